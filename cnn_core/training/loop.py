"""Training one run inside the worker process: data, fit, evaluation, saving.

`train_run` is called by `cnn_core.training.worker` with a run folder that already holds
its config. Everything it learns goes into that folder through `runs.RunFolder`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.registry import class_counts, load_dataset, split_indices
from cnn_core.data.user.pixels import PixelStore
from cnn_core.data.user.stream import stream
from cnn_core.models.cnn import build_model, load_trained_model, make_optimizer
from cnn_core.models.evaluate import evaluate_model
from cnn_core.schema.config import TrainConfig, validate, validation_count
from cnn_core.schema.records import EpochRecord, Evaluation, Progress, RunState, add_loss_point
from cnn_core.store.folder import RunFolder
from cnn_core.training.distribute import make_placement

PROGRESS_INTERVAL_S = 0.5  # how often batch progress is written (the charts poll ~1 s)
# What a stopping run is doing, in its status message until it ends (the Train page shows it).
STOP_STEPS = {
    "epoch": "Stopping: ending this epoch here…",
    "save": "Stopping: saving the model so far…",
    "evaluate": "Stopping: evaluating the model so far on the test set…",
}


def make_recorder(
    folder: RunFolder,
    epochs: int,
    batches: int,
    phase: str | None = None,
    saved_model: Any = None,
    later_epochs: int = 0,
    later_cost: float = 1.0,
    started: float | None = None,
) -> Any:
    """A Keras callback that logs epochs, throttled batch progress, and honours Stop.

    The per-batch hook costs one clock read and one `stat` of the stop file; the
    rest happens at most every PROGRESS_INTERVAL_S. The ETA comes from the rate
    this callback has timed itself (see `eta_seconds`).

    Stop: seen after a training batch, it ends the epoch there; that epoch is
    recorded as `partial`, its validation pass is cut to one batch (Keras always
    runs one) and its validation metrics are dropped before the other callbacks
    see them, so early stopping and the on-plateau schedule ignore it. Seen at an
    epoch's end (pressed during its validation pass), the whole epoch is kept and
    no new one starts. `stopped` tells the caller either way.

    Args:
        folder: the run's folder.
        epochs: all epochs the run plans (every phase).
        batches: batches per epoch.
        phase: recorded on each epoch of a two-phase run.
        saved_model: the model saved after each epoch when the model being fit
            is only part of it (training on cached features); default the fit one.
        later_epochs: of `epochs`, those a later fit trains (a later phase's).
        later_cost: what one epoch of the later fit costs in epochs of this one.
        started: `time.perf_counter()` when the run's training began (an earlier
            phase's fit); default when this fit begins. Progress.elapsed counts from it.
    """
    keras = import_keras()
    stop_file = str(folder.stop_path)
    fit_epochs_end = epochs - later_epochs  # this fit's epochs end here

    class RunRecorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.stopped = False  # Stop was seen: this fit ends after this epoch
            self.cut_short = False  # the epoch under way ended early on Stop
            self.train_start = self.epoch_start = self.last_write = 0.0
            self.epoch = self.batches_done = 0
            self.first_epoch: int | None = None  # this fit's first epoch (initial_epoch)
            self.epoch_rate = math.nan
            self.losses: tuple[tuple[int, float], ...] = ()  # this epoch's (batch, loss)

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.train_start = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch, self.epoch_start, self.batches_done = epoch, time.perf_counter(), 0
            if self.first_epoch is None:
                self.first_epoch = epoch
            self.losses = ()
            # The rate the epoch starts with (a schedule moves it batch by batch).
            self.epoch_rate = float(np.asarray(self.model.optimizer.learning_rate))
            self._write_progress(0, {})

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.batches_done = batch + 1
            if os.path.exists(stop_file):
                self._stop(cut_short=batch + 1 < batches)
            if time.perf_counter() - self.last_write >= PROGRESS_INTERVAL_S:
                self._write_progress(batch + 1, logs or {})

        def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if self.cut_short:  # a partial epoch's validation would measure nothing useful
                self.model.stop_evaluating = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            if not self.stopped and os.path.exists(stop_file):
                self._stop(cut_short=False)
            if self.cut_short:  # the same dict goes to the callbacks after this one
                for key in [k for k in logs if k.startswith("val_")]:
                    del logs[key]
            record = EpochRecord(
                epoch=epoch + 1,
                seconds=time.perf_counter() - self.epoch_start,
                loss=_number(logs.get("loss")),
                accuracy=_number(logs.get("accuracy")),
                val_loss=_number(logs.get("val_loss")),
                val_accuracy=_number(logs.get("val_accuracy")),
                learning_rate=self.epoch_rate,
                partial=self.cut_short,
                phase=phase,
                batches=self.batches_done if self.cut_short else None,
            )
            # Model first, then the history line: any epoch a reader sees listed
            # has its weights on disk, so an interrupted run keeps its last epoch.
            folder.save_model(self.model if saved_model is None else saved_model)
            folder.append_epoch(record)
            self._write_progress(self.batches_done if self.cut_short else batches, logs)

        def _stop(self, cut_short: bool) -> None:
            if not self.stopped:
                folder.write_status(RunState.RUNNING, message=STOP_STEPS["epoch"])
            self.stopped, self.cut_short = True, self.cut_short or cut_short
            self.model.stop_training = True

        def _write_progress(self, batch: int, logs: dict) -> None:
            now = time.perf_counter()
            self.last_write = now
            timed = (self.epoch - (self.first_epoch or 0)) * batches + batch
            eta = eta_seconds(
                timed,
                now - self.train_start,
                (fit_epochs_end - self.epoch) * batches - batch,
                later_epochs * batches,
                later_cost,
            )
            loss = _number(logs.get("loss"))
            self.losses = add_loss_point(self.losses, batch, loss)
            progress = Progress(
                epoch=self.epoch + 1,
                epochs=epochs,
                batch=batch,
                batches=batches,
                elapsed=now - (self.train_start if started is None else started),
                eta=eta,
                loss=loss,
                losses=self.losses,
            )
            folder.write_progress(progress)
            folder.write_status(RunState.RUNNING, heartbeat=time.time())

    return RunRecorder()


def eta_seconds(
    timed_batches: int,
    timed_seconds: float,
    batches_left: int,
    later_batches: int = 0,
    later_cost: float = 1.0,
) -> float | None:
    """Seconds left for the whole run, at the rate the running fit has measured.

    Only batches the running fit has timed count: a later phase's fit starts its
    clock anew, so batches of earlier phases would inflate its rate.

    Args:
        timed_batches: batches the running fit has trained since its clock started.
        timed_seconds: seconds since then.
        batches_left: batches left in the running fit's planned epochs.
        later_batches: batches planned after it (a later phase's).
        later_cost: what one later batch costs in batches of the running fit
            (fine-tuning against cached head training: `transfer.estimate_seconds`).

    Returns:
        The seconds left, or None until a batch has been timed.
    """
    if timed_batches <= 0 or timed_seconds <= 0:
        return None
    work = max(0, batches_left) + later_batches * later_cost
    return work * timed_seconds / timed_batches


def _number(value: Any) -> float | None:
    """A Keras log value as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def compile_for_run(model: Any, config: TrainConfig, batches: int) -> None:
    """Compile `model` with the config's optimizer and schedule (`batches` per epoch)."""
    decay_steps = config.fit.epochs * batches if config.optimizer.schedule == "cosine" else 0
    model.compile(
        optimizer=make_optimizer(config.optimizer, decay_steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def training_callbacks(config: TrainConfig, folder: RunFolder) -> list[Any]:
    """The Keras callbacks a run's config asks for, besides the recorder.

    TensorBoard logs always; early stopping and the on-plateau learning-rate
    schedule when the config chooses them (cosine decay lives in the optimizer).
    """
    keras = import_keras()
    callbacks = [keras.callbacks.TensorBoard(log_dir=str(folder.tensorboard_dir))]
    optimizer, fit = config.optimizer, config.fit
    if optimizer.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=1, min_lr=optimizer.learning_rate / 100
            )
        )
    if fit.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=fit.patience,
                restore_best_weights=fit.restore_best_weights,
            )
        )
    return callbacks


def fit_data(
    dataset: Any, train_idx: np.ndarray, val_idx: np.ndarray, batch_size: int, seed: int
) -> dict[str, Any]:
    """`model.fit` arguments for the training and validation images.

    Imported image folders (`PixelStore` images) stream from disk through tf.data;
    built-in uint8 arrays go in as they are: the model's float32 input casts each
    batch, which keeps a whole float32 copy of the training set (~200 MB) out of memory.
    """
    x, y = dataset.x_train, dataset.y_train
    if isinstance(x, PixelStore):
        return {
            "x": stream(x.subset(train_idx), y[train_idx], batch_size, shuffle=True, seed=seed),
            "validation_data": stream(x.subset(val_idx), y[val_idx], batch_size, shuffle=False),
            "shuffle": False,  # the stream shuffles itself, each epoch anew
        }
    return {
        "x": x[train_idx],
        "y": y[train_idx],
        "validation_data": (x[val_idx], y[val_idx]),
        "batch_size": batch_size,
    }


def train_run(folder: RunFolder, strategy: str = "default") -> RunState:
    """Train, evaluate and save the run in `folder`; return its final state.

    Args:
        folder: the run, holding its config.
        strategy: a `cnn_core.training.distribute` strategy; the config's batch size is per
            replica, so the global batch is batch size x replicas.

    Raises:
        UserError: bad config, missing dataset or unusable strategy (the worker
            records the message).
    """
    placement = make_placement(strategy)  # before any other TensorFlow work
    config = folder.read_config()
    dataset = load_dataset(config.dataset, download=True)
    info = dataset.info
    validate(config, info.image_shape, len(dataset.y_train))
    n_val = validation_count(config, len(dataset.y_train))
    train_idx, val_idx = split_indices(dataset.y_train, n_val, config.seed, config.train_subset)
    if config.model.kind == "vgg16":
        from cnn_core.training.vgg16_loop import train_vgg16  # it imports this module

        return train_vgg16(folder, config, dataset, train_idx, val_idx, placement)

    fit = config.fit
    global_batch = fit.batch_size * placement.replicas
    data = fit_data(dataset, train_idx, val_idx, global_batch, config.seed)
    y_train, y_val = dataset.y_train[train_idx], dataset.y_train[val_idx]
    batches = math.ceil(len(y_train) / global_batch)
    with placement.scope():
        model = build_model(
            config.model, info.image_shape, len(info.class_names), config.seed, config.augment
        )
        compile_for_run(model, config, batches)
    recorder = make_recorder(folder, fit.epochs, batches)
    callbacks = [recorder, *training_callbacks(config, folder)]
    folder.write_status(
        RunState.RUNNING,
        n_train=len(y_train),
        n_val=len(y_val),
        train_class_counts=class_counts(y_train, len(info.class_names)).tolist(),
        train_started=time.time(),
        strategy=placement.name,
        devices=list(placement.devices),
        replicas=placement.replicas,
    )
    start = time.perf_counter()
    model.fit(**data, epochs=fit.epochs, callbacks=callbacks, verbose=2)
    train_seconds = time.perf_counter() - start
    announce_stop_step(folder, recorder.stopped, "save")
    folder.save_model(model)
    if placement.strategy is not None:  # evaluate on one device: batched calls of a
        model = load_trained_model(folder.model_path)  # mirrored model return every replica's
    announce_stop_step(folder, recorder.stopped, "evaluate")
    evaluation, probs = evaluate_model(model, dataset.x_test, dataset.y_test, info.class_names)
    return finish_run(folder, evaluation, probs, dataset.y_test, train_seconds, recorder.stopped)


def announce_stop_step(folder: RunFolder, stopped: bool, step: str) -> None:
    """Say in a stopping run's status what it does now (a `STOP_STEPS` key)."""
    if stopped:
        folder.write_status(RunState.RUNNING, message=STOP_STEPS[step])


def finish_run(
    folder: RunFolder,
    evaluation: Evaluation,
    probs: np.ndarray,
    y_test: np.ndarray,
    train_seconds: float,
    stopped: bool,
) -> RunState:
    """Store the test results and the final status of a trained run; return its state."""
    folder.save_evaluation(evaluation, probs, y_test)
    state = RunState.STOPPED if stopped else RunState.COMPLETED
    folder.write_status(
        state,
        train_seconds=train_seconds,
        test_accuracy=evaluation.accuracy,
        ended=time.time(),
        message="stopped by the user" if stopped else "",
    )
    return state
