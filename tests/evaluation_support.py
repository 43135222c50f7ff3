"""Run folders with a real (tiny) model, made by hand for the Evaluate page's tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.data.registry import Dataset
from cnn_core.models.cnn import build_model
from cnn_core.models.evaluate import evaluate_model
from cnn_core.schema.config import ConvBlock, FitSpec, ModelSpec, TrainConfig
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.folder import RunFolder, create_run

TINY_SPEC = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(filters=4, kernel_size=3),))


def make_model_run(
    dataset: Dataset,
    *,
    root: Path | None = None,
    state: RunState = RunState.COMPLETED,
    evaluate: bool = True,
    epochs: int = 1,
    train_images: int = 100,
    name: str = "tiny",
) -> Path:
    """A run folder holding a tiny CNN trained for `epochs` on `dataset`.

    Args:
        dataset: the (synthetic) dataset to train and evaluate on.
        root: the run store (default: `$CNN_RUNS_DIR`).
        state: the status to record; INTERRUPTED writes a running status whose
            worker pid does not exist, which the store reads as interrupted.
        evaluate: store `evaluation.json` and `predictions.npz` as training does.
        epochs: training epochs (0 leaves the model untrained).
        train_images: how many training images it sees: few leave some test errors.

    Returns:
        The run folder.
    """
    config = TrainConfig(
        dataset=dataset.info.key, model=TINY_SPEC, fit=FitSpec(epochs=max(1, epochs)), name=name
    )
    folder = create_run(config, root)
    info = dataset.info
    model = build_model(TINY_SPEC, info.image_shape, len(info.class_names), seed=0)
    if epochs:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(dataset.x_train.astype(np.float32), dataset.y_train, epochs=epochs, verbose=0)
    folder.save_model(model)
    for epoch in range(1, epochs + 1):
        folder.append_epoch(EpochRecord(epoch=epoch, loss=1.0, val_accuracy=0.5))
    if evaluate:
        evaluation, probs = evaluate_model(model, dataset.x_test, dataset.y_test, info.class_names)
        folder.save_evaluation(evaluation, probs, dataset.y_test)
    if state == RunState.INTERRUPTED:
        folder.write_status(RunState.RUNNING, pid=999_999_999)  # no such process
    else:
        folder.write_status(state)
    return folder.path


def copy_run(run: Path, store: Path) -> Path:
    """A copy of run folder `run` in the run store `store` (same id)."""
    store.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(run, store / run.name))


def replace_model(run: Path, model: Any) -> float:
    """Save `model` as the run's model.keras, a new file version (as a retraining or an
    import over it would leave): its mtime is set a minute past the old one, so the
    change shows even where the filesystem's clock is coarse. Returns the new mtime."""
    folder = RunFolder(run)
    version = folder.model_path.stat().st_mtime + 60
    folder.save_model(model)
    os.utime(folder.model_path, (version, version))
    return version
