"""The one factory for run folders in tests: `make_run` writes what a worker would have.

Tests need runs in every state and with more or less in them: a config and a
status only (the run store's listing), epochs (charts, Compare), a model
(Predict, Inside), a stored evaluation (Evaluate). `make_run` makes each of
them through the run store's own writers, so a test never writes a run file by
hand; `history` and `val_history` give the epochs. No worker process runs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cnn_core.data.registry import Dataset, dataset_info, load_dataset
from cnn_core.models.cnn import build_model
from cnn_core.models.evaluate import evaluate_model
from cnn_core.schema.config import ConvBlock, FitSpec, ModelSpec, TrainConfig
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.folder import RunFolder, create_run

TINY_SPEC = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(filters=4, kernel_size=3),))
NO_SUCH_PID = 999_999_999  # a "running" status with this pid reads as interrupted


def history(epochs: int, partial_last: bool = False) -> list[EpochRecord]:
    """Plausible epoch records: loss falls, accuracy rises (the last one cut short
    when `partial_last`, as a stopped run's is)."""
    return [
        EpochRecord(
            epoch=epoch,
            seconds=2.0 + epoch / 10,
            loss=2.0 / epoch,
            accuracy=0.5 + epoch / 40,
            val_loss=2.1 / epoch,
            val_accuracy=0.48 + epoch / 40,
            learning_rate=1e-3,
            partial=partial_last and epoch == epochs,
        )
        for epoch in range(1, epochs + 1)
    ]


def val_history(
    val_accuracies: Sequence[float], seconds: float = 2.0, gap: float = 0.01
) -> list[EpochRecord]:
    """One epoch per validation accuracy given, training accuracy `gap` below it;
    losses 1/epoch (training) and 1.1/epoch (validation); each epoch `seconds` long."""
    return [
        EpochRecord(
            epoch,
            seconds=seconds,
            loss=1.0 / epoch,
            accuracy=val - gap,
            val_loss=1.1 / epoch,
            val_accuracy=val,
        )
        for epoch, val in enumerate(val_accuracies, start=1)
    ]


def make_run(
    config: TrainConfig | None = None,
    *,
    root: Path | None = None,
    state: RunState = RunState.COMPLETED,
    epochs: Sequence[EpochRecord] = (),
    model: Literal["untrained", "trained"] | None = None,
    fit_epochs: int = 1,
    evaluate: bool = False,
    dataset: Dataset | None = None,
    shape: tuple[int, int, int] | None = None,
    **status: Any,
) -> RunFolder:
    """A run folder of `config` as a worker leaves it, made without one.

    Args:
        config: the run's settings (default `TrainConfig()`).
        root: the run store (default `$CNN_RUNS_DIR`, the test's own).
        state: the recorded state; INTERRUPTED records a running status whose
            worker pid does not exist, which the store reads as interrupted.
        epochs: the epoch log (`history`, `val_history`).
        model: None (no model file), "untrained" (built from the config, seeded) or
            "trained" (fitted `fit_epochs` on the dataset's training images).
        evaluate: store the model's evaluation on the dataset's test images (and the
            status's test accuracy and training-image count), as training does.
        dataset: the dataset to train and evaluate on (default: the config's, loaded).
        shape: the model's input (h, w, c) when neither training nor evaluating
            (default: the config's dataset's image shape).
        **status: more status fields (train_seconds, message, started...).

    Returns:
        The run folder.
    """
    config = config or TrainConfig()
    folder = create_run(config, root)
    for record in epochs:
        folder.append_epoch(record)
    if model is not None:
        if model == "trained" or evaluate:
            dataset = dataset or load_dataset(config.dataset)
        built = _model(config, model, fit_epochs, dataset, shape)
        folder.save_model(built)
        if evaluate:
            x_test, y_test = np.asarray(dataset.x_test), np.asarray(dataset.y_test)
            mirror = config.augment.mirror_average  # as the training loop evaluates
            names = dataset.info.class_names
            evaluation, probs = evaluate_model(built, x_test, y_test, names, mirror=mirror)
            folder.save_evaluation(evaluation, probs, y_test)
            status = {
                "test_accuracy": evaluation.accuracy,
                "n_train": len(dataset.y_train),
                **status,
            }
    if state == RunState.INTERRUPTED:
        folder.write_status(RunState.RUNNING, pid=NO_SUCH_PID, **status)
    else:
        folder.write_status(state, **status)
    return folder


def finished_run(
    config: TrainConfig, state: RunState = RunState.COMPLETED, epochs: int = 3
) -> RunFolder:
    """A run of `config` that ended in `state`, with an untrained model, epochs and an
    evaluation: everything a page shows of a trained run."""
    now = time.time()
    return make_run(
        config,
        state=state,
        epochs=history(epochs, partial_last=state == RunState.STOPPED),
        model="untrained",
        evaluate=True,
        started=now - 10,
        train_started=now - 9,
        ended=now,
        train_seconds=7.5,
        message="stopped by the user" if state == RunState.STOPPED else "",
    )


def tiny_trained_run(
    dataset: Dataset,
    *,
    root: Path | None = None,
    state: RunState = RunState.COMPLETED,
    evaluate: bool = True,
    epochs: int = 1,
    name: str = "tiny",
) -> Path:
    """A tiny CNN (`TINY_SPEC`) trained `epochs` on `dataset` (0: left untrained, so it
    makes errors to show), evaluated on its test images unless not `evaluate`."""
    config = TrainConfig(
        dataset=dataset.info.key,
        model=TINY_SPEC,
        fit=FitSpec(epochs=max(1, epochs)),
        name=name,
        seed=0,
    )
    folder = make_run(
        config,
        root=root,
        state=state,
        epochs=[EpochRecord(epoch=e, loss=1.0, val_accuracy=0.5) for e in range(1, epochs + 1)],
        model="trained" if epochs else "untrained",
        fit_epochs=epochs,
        evaluate=evaluate,
        dataset=dataset,
    )
    return folder.path


def untrained_model_run(
    spec: ModelSpec,
    name: str,
    dataset: str = "mnist",
    shape: tuple[int, int, int] | None = None,
) -> Path:
    """A completed run named `name` holding an untrained model of `spec` for `dataset`
    (input `shape`, default the dataset's images), with no epochs or evaluation."""
    config = TrainConfig(dataset=dataset, model=spec, name=name, seed=0)
    return make_run(config, model="untrained", shape=shape).path


def copy_run(run: Path, store: Path) -> Path:
    """A copy of run folder `run` in the run store `store` (same id), for a run made
    once per module (conftest's `trained_run`) and used by several tests."""
    store.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(run, store / run.name))


def _model(
    config: TrainConfig,
    how: str,
    fit_epochs: int,
    dataset: Dataset | None,
    shape: tuple[int, int, int] | None,
) -> Any:
    """The config's model, seeded; fitted on `dataset` when `how` is "trained"."""
    info = dataset.info if dataset is not None else dataset_info(config.dataset)
    shape = shape or info.image_shape
    built = build_model(config.model, shape, len(info.class_names), config.seed)
    if how == "trained":
        built.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        x_train = np.asarray(dataset.x_train, dtype=np.float32)
        built.fit(x_train, dataset.y_train, epochs=fit_epochs, verbose=0)
    elif how != "untrained":
        raise ValueError(f"model must be None, 'untrained' or 'trained'. Received: model={how!r}")
    return built


def replace_model(run: Path, model: Any) -> float:
    """Save `model` as the run's model.keras, a new file version (as a retraining or an
    import over it would leave): its mtime is set a minute past the old one, so the
    change shows even where the filesystem's clock is coarse. Returns the new mtime."""
    folder = RunFolder(run)
    version = folder.model_path.stat().st_mtime + 60
    folder.save_model(model)
    os.utime(folder.model_path, (version, version))
    return version
