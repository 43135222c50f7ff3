"""The training recipe a run's config turns into: optimizer schedule and callbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn_core.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.models import make_optimizer
from cnn_core.runs import RunFolder
from cnn_core.train import training_callbacks


def rate(optimizer) -> float:
    return float(np.asarray(optimizer.learning_rate))


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_cosine_decay_glides_from_the_rate_to_zero(name: str) -> None:
    optimizer = make_optimizer(OptimizerSpec(name, 0.1, momentum=0.9), decay_steps=100)
    assert rate(optimizer) == pytest.approx(0.1)
    optimizer.iterations.assign(50)
    assert rate(optimizer) == pytest.approx(0.05, rel=1e-4)
    optimizer.iterations.assign(100)
    assert rate(optimizer) == pytest.approx(0.0, abs=1e-7)


def test_a_constant_rate_stays_put() -> None:
    optimizer = make_optimizer(OptimizerSpec("adam", 0.01))
    optimizer.iterations.assign(10_000)
    assert rate(optimizer) == pytest.approx(0.01)


def kinds(callbacks: list) -> list[str]:
    return [type(c).__name__ for c in callbacks]


def test_plateau_schedule_halves_the_rate_on_a_stalled_validation_loss(tmp_path: Path) -> None:
    config = TrainConfig(
        optimizer=OptimizerSpec(learning_rate=0.01, schedule="plateau"),
        fit=FitSpec(early_stopping=False),
    )
    callbacks = training_callbacks(config, RunFolder(tmp_path))
    assert kinds(callbacks) == ["TensorBoard", "ReduceLROnPlateau"]
    plateau = callbacks[1]
    assert plateau.monitor == "val_loss"
    assert plateau.factor == 0.5
    assert plateau.min_lr == pytest.approx(0.0001)


def test_cosine_and_early_stopping_callbacks(tmp_path: Path) -> None:
    config = TrainConfig(
        optimizer=OptimizerSpec(schedule="cosine"), fit=FitSpec(early_stopping=True, patience=4)
    )
    callbacks = training_callbacks(config, RunFolder(tmp_path))
    assert kinds(callbacks) == ["TensorBoard", "EarlyStopping"]
    assert callbacks[1].patience == 4
    assert callbacks[1].restore_best_weights is True


def test_a_short_batch_norm_run_settles_its_test_time_statistics() -> None:
    """The moving statistics used at test time must settle within a short run.

    500 training images, batch 32, 2 epochs = 32 updates: with Keras' default
    momentum 0.99 the moving mean would still be about 70% its initial 0.
    """
    from cnn_core import runs
    from cnn_core.config import ConvBlock, DenseLayer, ModelSpec
    from cnn_core.data import load_dataset
    from cnn_core.models import load_trained_model
    from cnn_core.tf_runtime import import_keras
    from cnn_core.train import train_run

    spec = ModelSpec(
        kind="cnn",
        conv_blocks=(ConvBlock(8, 3, batch_norm=True), ConvBlock(16, 3, batch_norm=True)),
        dense_layers=(DenseLayer(32),),
    )
    config = TrainConfig(
        model=spec,
        fit=FitSpec(epochs=2, batch_size=32, early_stopping=False),
        validation=100,
        seed=1,
    )
    folder = runs.create_run(config)
    assert train_run(folder) == "completed"
    assert folder.read_evaluation().accuracy > 0.3  # ten classes: chance is 0.1

    model = load_trained_model(folder.model_path)
    keras = import_keras()
    conv1 = keras.Model(model.input, model.get_layer("conv1").output)
    images = load_dataset("mnist").x_train[:500].astype(np.float32)
    actual = np.asarray(conv1(images)).mean(axis=(0, 1, 2))
    moving = np.asarray(model.get_layer("bn1").moving_mean)
    assert np.abs(actual).max() > 0.05  # the check below is not trivially met
    np.testing.assert_allclose(moving, actual, rtol=0.25, atol=0.02)
