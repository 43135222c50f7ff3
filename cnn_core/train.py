"""Training one run inside the worker process: data, fit, evaluation, saving.

`train_run` is called by `cnn_core.worker` with a run folder that already holds
`config.json`. Everything it learns goes into that folder (see `runs.py`).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core import runs
from cnn_core.config import TrainConfig, validate, validation_count
from cnn_core.data import Dataset, load_dataset, split_indices
from cnn_core.evaluate import summarize
from cnn_core.models import build_model, make_optimizer
from cnn_core.tf_runtime import import_keras

PROGRESS_INTERVAL_S = 0.5  # how often batch progress is written (the charts poll ~1 s)
EVAL_BATCH = 512


def make_recorder(path: Path, epochs: int, batches: int) -> Any:
    """A Keras callback that logs epochs, throttled batch progress, and honours Stop.

    The per-batch hook costs one clock read and one `stat` of the stop file; the
    rest happens at most every PROGRESS_INTERVAL_S.
    """
    keras = import_keras()
    stop_file = str(path / "stop")

    class RunRecorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.stopped = False
            self.train_start = self.epoch_start = self.last_write = 0.0
            self.epoch = 0
            self.epoch_rate = math.nan

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.train_start = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch, self.epoch_start = epoch, time.perf_counter()
            # The rate the epoch starts with (a schedule moves it batch by batch).
            self.epoch_rate = float(np.asarray(self.model.optimizer.learning_rate))
            self._write_progress(0, {})

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if os.path.exists(stop_file):
                self.stopped = True
                self.model.stop_training = True
            if time.perf_counter() - self.last_write >= PROGRESS_INTERVAL_S:
                self._write_progress(batch + 1, logs or {})

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            record = {"epoch": epoch + 1, "seconds": time.perf_counter() - self.epoch_start}
            record.update({k: float(v) for k, v in logs.items() if _is_number(v)})
            record["learning_rate"] = self.epoch_rate
            if self.stopped:
                record["partial"] = True
            # Model first, then the history line: any epoch a reader sees listed
            # has its weights on disk, so an interrupted run keeps its last epoch.
            save_model(self.model, path)
            runs.append_metrics(path, record)
            self._write_progress(batches, logs)

        def _write_progress(self, batch: int, logs: dict) -> None:
            now = time.perf_counter()
            self.last_write = now
            done = self.epoch * batches + batch
            elapsed = now - self.train_start
            rate = done / elapsed if done and elapsed > 0 else 0.0
            eta = (epochs * batches - done) / rate if rate else None
            record = {
                "epoch": self.epoch + 1,
                "epochs": epochs,
                "batch": batch,
                "batches": batches,
                "elapsed": elapsed,
                "eta": eta,
                "loss": float(logs["loss"]) if _is_number(logs.get("loss")) else None,
            }
            runs.atomic_write_json(path / "progress.json", record)
            runs.write_status(path, "running", heartbeat=time.time())

    return RunRecorder()


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def compile_for_run(model: Any, config: TrainConfig, batches: int) -> None:
    """Compile `model` with the config's optimizer and schedule (`batches` per epoch)."""
    decay_steps = config.epochs * batches if config.lr_schedule == "cosine" else 0
    model.compile(
        optimizer=make_optimizer(
            config.optimizer, config.learning_rate, config.momentum, decay_steps
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def training_callbacks(config: TrainConfig, path: Path) -> list[Any]:
    """The Keras callbacks a run's config asks for, besides the recorder.

    TensorBoard logs always; early stopping and the on-plateau learning-rate
    schedule when the config chooses them (cosine decay lives in the optimizer).
    """
    keras = import_keras()
    callbacks = [keras.callbacks.TensorBoard(log_dir=str(path / "tensorboard"))]
    if config.lr_schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=1, min_lr=config.learning_rate / 100
            )
        )
    if config.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.patience,
                restore_best_weights=config.restore_best_weights,
            )
        )
    return callbacks


def train_run(path: Path) -> str:
    """Train, evaluate and save the run in `path`; return its final state.

    Raises:
        UserError: bad config or missing dataset (the worker records the message).
    """
    config = TrainConfig.from_dict(runs.read_json(path / "config.json")["config"])
    dataset = load_dataset(config.dataset, download=True)
    info = dataset.info
    validate(config, info.image_shape, len(dataset.y_train))
    n_val = validation_count(config, len(dataset.y_train))
    train_idx, val_idx = split_indices(dataset.y_train, n_val, config.seed, config.train_subset)
    x_train, y_train = dataset.x_train[train_idx], dataset.y_train[train_idx]
    x_val, y_val = dataset.x_train[val_idx], dataset.y_train[val_idx]

    model = build_model(config.model, info.image_shape, len(info.class_names), config.seed)
    batches = math.ceil(len(y_train) / config.batch_size)
    compile_for_run(model, config, batches)
    recorder = make_recorder(path, config.epochs, batches)
    callbacks = [recorder, *training_callbacks(config, path)]
    runs.write_status(
        path, "running", n_train=len(y_train), n_val=len(y_val), train_started=time.time()
    )
    start = time.perf_counter()
    # uint8 arrays go in as they are: the model's float32 input casts each batch,
    # which keeps a whole float32 copy of the training set (~200 MB) out of memory.
    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        batch_size=config.batch_size,
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=2,
    )
    train_seconds = time.perf_counter() - start
    save_model(model, path)
    evaluation = store_evaluation(model, dataset, path)
    state = "stopped" if recorder.stopped else "completed"
    runs.write_status(
        path,
        state,
        train_seconds=train_seconds,
        test_accuracy=evaluation["accuracy"],
        ended=time.time(),
        message="stopped by the user" if recorder.stopped else "",
    )
    return state


def predict_in_batches(model: Any, images: np.ndarray, batch: int = EVAL_BATCH) -> np.ndarray:
    """Probabilities float32 (n, n_classes) for uint8 images (n, h, w, c), batched."""
    out = [
        np.asarray(model.predict_on_batch(images[i : i + batch].astype(np.float32)))
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def save_model(model: Any, path: Path) -> None:
    """Write `model.keras` atomically (readers never see a half-written zip)."""
    tmp_model = path / ".model.tmp.keras"
    model.save(tmp_model)
    os.replace(tmp_model, path / "model.keras")


def store_evaluation(model: Any, dataset: Dataset, path: Path) -> dict[str, Any]:
    """Evaluate on the test set once and store `evaluation.json` and `predictions.npz`.

    Returns:
        The evaluation record (see `cnn_core.evaluate.summarize`).
    """
    probs = predict_in_batches(model, dataset.x_test)
    evaluation = summarize(probs, dataset.y_test, list(dataset.info.class_names))
    tmp_pred = path / ".predictions.tmp.npz"
    with open(tmp_pred, "wb") as handle:
        np.savez_compressed(handle, probs=probs.astype(np.float32), y_true=dataset.y_test)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp_pred, path / "predictions.npz")
    runs.atomic_write_json(path / "evaluation.json", evaluation)
    return evaluation
