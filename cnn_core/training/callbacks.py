"""The Keras callbacks of a run: the recorder (epochs, live progress, Stop) and the rest.

The recorder's hooks live in `RecorderHooks`, a plain class, so that this module
imports no TensorFlow; `make_recorder` joins them to `keras.callbacks.Callback`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from cnn_core.base.tf_runtime import import_keras
from cnn_core.models.precision import float32_copy
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import EpochRecord, Progress, RunState, add_loss_point
from cnn_core.store.folder import RunFolder
from cnn_core.training.plan import eta_seconds

PROGRESS_INTERVAL_S = 0.5  # how often batch progress is written (the charts poll ~1 s)
# What a stopping run is doing, in its status message until it ends (the Train page shows it).
STOP_STEPS = {
    "epoch": "Stopping: ending this epoch here…",
    "save": "Stopping: saving the model so far…",
    "evaluate": "Stopping: evaluating the model so far on the test set…",
}


class RecorderHooks:
    """The run recorder's Keras hooks; `make_recorder` makes them a Keras callback.

    Stop: seen after a training batch, it ends the epoch there; that epoch is
    recorded as `partial`, its validation pass is cut to one batch (Keras always
    runs one) and its validation metrics are dropped before the other callbacks
    see them, so early stopping and the on-plateau schedule ignore it. Seen at an
    epoch's end (pressed during its validation pass), the whole epoch is kept and
    no new one starts. `stopped` tells the caller either way.

    Args: those of `make_recorder`.
    """

    model: Any  # set by Keras (`Callback.set_model`)

    def __init__(
        self,
        folder: RunFolder,
        epochs: int,
        batches: int,
        phase: str | None = None,
        saved_model: Any = None,
        later_epochs: int = 0,
        later_cost: float = 1.0,
        started: float | None = None,
    ) -> None:
        super().__init__()  # the Keras Callback's, in the joined class
        self.folder, self.epochs, self.batches, self.phase = folder, epochs, batches, phase
        self.saved_model, self.started = saved_model, started
        self.later_epochs, self.later_cost = later_epochs, later_cost
        self.stop_file = str(folder.stop_path)
        self.fit_epochs_end = epochs - later_epochs  # this fit's epochs end here
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
        if os.path.exists(self.stop_file):
            self._stop(cut_short=batch + 1 < self.batches)
        if time.perf_counter() - self.last_write >= PROGRESS_INTERVAL_S:
            self._write_progress(batch + 1, logs or {})

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.cut_short:  # a partial epoch's validation would measure nothing useful
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        if not self.stopped and os.path.exists(self.stop_file):
            self._stop(cut_short=False)
        if self.cut_short:  # the same dict goes to the callbacks after this one
            for key in [k for k in logs if k.startswith("val_")]:
                del logs[key]
        # Model first, then the history line: any epoch a reader sees listed
        # has its weights on disk, so an interrupted run keeps its last epoch.
        trained = self.model if self.saved_model is None else self.saved_model
        self.folder.save_model(float32_copy(trained))  # a mixed-precision model as float32
        self.folder.append_epoch(self._epoch_record(epoch, logs))
        self._write_progress(self.batches_done if self.cut_short else self.batches, logs)

    def _epoch_record(self, epoch: int, logs: dict) -> EpochRecord:
        return EpochRecord(
            epoch=epoch + 1,
            seconds=time.perf_counter() - self.epoch_start,
            loss=_number(logs.get("loss")),
            accuracy=_number(logs.get("accuracy")),
            val_loss=_number(logs.get("val_loss")),
            val_accuracy=_number(logs.get("val_accuracy")),
            learning_rate=self.epoch_rate,
            partial=self.cut_short,
            phase=self.phase,
            batches=self.batches_done if self.cut_short else None,
        )

    def _stop(self, cut_short: bool) -> None:
        if not self.stopped:
            self.folder.write_status(RunState.RUNNING, message=STOP_STEPS["epoch"])
        self.stopped, self.cut_short = True, self.cut_short or cut_short
        self.model.stop_training = True

    def _write_progress(self, batch: int, logs: dict) -> None:
        now = time.perf_counter()
        self.last_write = now
        batches = self.batches
        eta = eta_seconds(
            (self.epoch - (self.first_epoch or 0)) * batches + batch,
            now - self.train_start,
            (self.fit_epochs_end - self.epoch) * batches - batch,
            self.later_epochs * batches,
            self.later_cost,
        )
        loss = _number(logs.get("loss"))
        self.losses = add_loss_point(self.losses, batch, loss)
        progress = Progress(
            epoch=self.epoch + 1,
            epochs=self.epochs,
            batch=batch,
            batches=batches,
            elapsed=now - (self.train_start if self.started is None else self.started),
            eta=eta,
            loss=loss,
            losses=self.losses,
        )
        self.folder.write_progress(progress)
        self.folder.write_status(RunState.RUNNING, heartbeat=time.time())


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
    this callback has timed itself (see `eta_seconds`). Stop: see `RecorderHooks`.

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

    class RunRecorder(RecorderHooks, keras.callbacks.Callback):
        pass

    return RunRecorder(
        folder, epochs, batches, phase, saved_model, later_epochs, later_cost, started
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


def _number(value: Any) -> float | None:
    """A Keras log value as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
