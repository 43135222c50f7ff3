"""The one training loop over a run's phases, on a tiny model and random numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.store.folder import RunFolder
from cnn_core.training.distribute import Placement
from cnn_core.training.loop import fit_phases
from cnn_core.training.plan import Phase

ONE_DEVICE = Placement("default", None, ("/device:CPU:0",))


def tiny_model():
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])


def phases(model, epochs: tuple[int, int], fitted: list[str]) -> list[Phase]:
    """Two named phases over the same 32 points (4 batches of 8), at different rates."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 2)).astype("float32"), rng.integers(0, 2, 32)

    def phase(name: str, n: int, rate: float) -> Phase:
        config = TrainConfig(
            optimizer=OptimizerSpec("adam", rate), fit=FitSpec(batch_size=8, epochs=n)
        )

        def fit_model():
            fitted.append(name)
            return model

        def fit_data(batch: int) -> dict:
            return {"x": x, "y": y, "validation_data": (x[:8], y[:8]), "batch_size": batch}

        return Phase(name, config, fit_model, fit_data, lambda m: (m, x))

    return [phase("first", epochs[0], 1e-2), phase("second", epochs[1], 1e-3)]


def test_the_phases_fit_in_turn_numbering_epochs_on(tmp_path: Path) -> None:
    folder, model, fitted = RunFolder(tmp_path), tiny_model(), []
    plan = phases(model, (2, 1), fitted)
    last, stopped = fit_phases(folder, model, plan, 32, ONE_DEVICE)
    assert (last, stopped) == (plan[1], False)
    assert fitted == ["first", "second"]
    history = folder.read_history()
    assert [(r.epoch, r.phase) for r in history] == [(1, "first"), (2, "first"), (3, "second")]
    # Each phase is compiled anew at its own rate, its cosine decay spanning its own
    # epochs: the first phase's second epoch starts half way down (4 of 8 steps).
    rates = [r.learning_rate for r in history]
    np.testing.assert_allclose(rates, [1e-2, 5e-3, 1e-3], rtol=1e-5)  # float32 rates
    assert folder.model_path.exists()
    progress = folder.read_progress()
    assert (progress.epoch, progress.epochs, progress.batches) == (3, 3, 4)


def test_stop_ends_every_phase_not_only_the_running_one(tmp_path: Path) -> None:
    folder, model, fitted = RunFolder(tmp_path), tiny_model(), []
    plan = phases(model, (2, 2), fitted)
    folder.request_stop()  # seen after the first batch
    last, stopped = fit_phases(folder, model, plan, 32, ONE_DEVICE)
    assert (last, stopped) == (plan[0], True)
    assert fitted == ["first"]
    history = folder.read_history()
    assert [(r.epoch, r.phase, r.partial, r.batches) for r in history] == [(1, "first", True, 1)]
