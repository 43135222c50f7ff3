"""One run's folder: where each of its files is, and typed reads and writes of them.

Runs live one folder per run under `runs/` (or `$CNN_RUNS_DIR`, or a private
workspace's folder in it). This module is the only one that knows a run folder's
file names:
    config.json      the TrainConfig
    status.json      state, pid, heartbeat, timings, message (`records.Status`)
    metrics.jsonl    one `records.EpochRecord` per finished epoch, append-only
    progress.json    batch progress within the current epoch (`records.Progress`)
    stop             present once Stop was pressed
    model.keras      the model, saved after every epoch and at the end
    evaluation.json  test metrics (`records.Evaluation`); predictions.npz the
                     test-set probabilities and labels
    tensorboard/     logs for `tensorboard --logdir runs`
    worker.log       the worker's stdout/stderr
    notes.json       tags and notes added after launch (`records.RunNotes`)
    public           present when its owner shared it read-only (private workspaces)

Learning-rate range tests (`cnn_core.training.lr_finder`) live apart, in `.lr_tests/<id>/`
of the same runs folder (a dot name is never a run id, so run lists skip them):
the same config, status, progress, stop and worker log files, plus
    lr_test.json     the test's rates, losses and suggested rate

Every file except the metrics log is replaced atomically; a torn last line in
the log is ignored. The module is over 400 lines on purpose: it is the one place
that knows these file names, one typed read and write per file, and splitting it
would spread them again. The store never imports TensorFlow (a model is handed in
to be saved, never loaded here).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.base import workspace
from cnn_core.base.errors import UserError
from cnn_core.data.registry import DatasetInfo, find_dataset
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import (
    EpochRecord,
    Evaluation,
    Progress,
    RecordError,
    RunNotes,
    RunState,
    Status,
    record_version,
    stamped,
)
from cnn_core.store.atomic import atomic_write_json, atomic_write_text, read_json

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
# Runs that ship with the project (the starter MNIST model), read-only.
STARTER_ROOT = Path(__file__).resolve().parent / "starter"
STARTING_GRACE_S = 30  # a queued run without a worker pid yet is still starting


def starter_root() -> Path:
    """Where the starter models that ship with CNN Studio live (read-only)."""
    return STARTER_ROOT


def runs_root() -> Path:
    """Where the current workspace's runs live: `$CNN_RUNS_DIR` (default `runs/` in the
    working directory), or a private workspace's folder in it (`cnn_core.base.workspace`)."""
    return workspace.current_root()


@dataclass(frozen=True)
class RunFolder:
    """One run's folder: where each of its files is, and typed reads and writes.

    Every other module names a run's files through these properties.
    """

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def progress_path(self) -> Path:
        return self.path / "progress.json"

    @property
    def stop_path(self) -> Path:
        return self.path / "stop"

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def evaluation_path(self) -> Path:
        return self.path / "evaluation.json"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.npz"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"

    @property
    def log_path(self) -> Path:
        return self.path / "worker.log"

    @property
    def notes_path(self) -> Path:
        return self.path / "notes.json"

    @property
    def public_path(self) -> Path:
        """Present when the owner shared the run read-only (`cnn_core.store.access.set_public`)."""
        return self.path / "public"

    @property
    def has_model(self) -> bool:
        return self.model_path.is_file()

    def model_version(self) -> float:
        """The model file's modification time (0.0 when there is none): a cache key."""
        try:
            return self.model_path.stat().st_mtime
        except OSError:
            return 0.0

    # config.json -------------------------------------------------------------

    def write_config(self, config: TrainConfig, dataset: DatasetInfo | None = None) -> None:
        """Store the config, with what the run knows of its dataset (`dataset`, else
        the description stored before: a rename keeps it)."""
        record: dict[str, Any] = {"config": config.to_dict()}
        known = dataset or self.read_dataset()
        if known is not None:
            record["dataset"] = known.to_record()
        atomic_write_json(self.config_path, stamped(record))

    def read_dataset(self) -> DatasetInfo | None:
        """The dataset's description stored at launch (title, class names, image shape);
        None for runs recorded before it was kept, or when unreadable."""
        saved = read_json(self.config_path)
        record = saved.get("dataset") if saved else None
        if not isinstance(record, dict):
            return None
        try:
            return DatasetInfo.from_record(record)
        except (KeyError, TypeError, ValueError):
            return None

    def read_config(self) -> TrainConfig:
        """The run's config.

        Raises:
            UserError: missing, unreadable, from a newer CNN Studio, or malformed.
        """
        saved = read_json(self.config_path)
        if saved is None or not isinstance(saved.get("config"), dict):
            raise RecordError(f"{self.config_path.name} is missing or unreadable")
        version = record_version(saved, self.config_path.name)
        return TrainConfig.from_dict(saved["config"], version)

    # notes.json --------------------------------------------------------------

    def read_notes(self) -> RunNotes:
        """The run's tags and notes (empty when none were written).

        Raises:
            RecordError: from a newer CNN Studio, or malformed.
        """
        record = read_json(self.notes_path)
        return RunNotes() if record is None else RunNotes.from_dict(record, self.notes_path.name)

    def write_notes(self, notes: RunNotes) -> None:
        """Replace the run's tags and notes (unchecked: `access.save_notes` checks the
        workspace first)."""
        atomic_write_json(self.notes_path, notes.to_dict())

    # status.json -------------------------------------------------------------

    def read_status(self) -> Status:
        """The stored status.

        Raises:
            RecordError: missing, unreadable, newer, or an unknown state.
        """
        record = read_json(self.status_path)
        if record is None:
            raise RecordError(f"{self.status_path.name} is missing or unreadable")
        return Status.from_dict(record, self.status_path.name)

    def write_status(self, state: RunState, **fields: Any) -> Status:
        """Replace `status.json` with `state` and `fields`, keeping earlier fields.

        Raises:
            TypeError: a field `Status` does not have (a programming error).
        """
        try:
            status = self.read_status()
        except RecordError:
            status = Status(state=state)
        status = replace(status, state=RunState(state), updated=time.time(), **fields)
        atomic_write_json(self.status_path, status.to_dict())
        return status

    # metrics.jsonl -----------------------------------------------------------

    def append_epoch(self, record: EpochRecord) -> None:
        """Append one epoch's record as a JSON line, flushed to disk."""
        line = json.dumps(record.to_dict(), separators=(",", ":")) + "\n"
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def read_history(self) -> list[EpochRecord]:
        """Every complete epoch record; a torn or garbled line is skipped.

        Raises:
            RecordError: a line written by a newer CNN Studio.
        """
        try:
            text = self.metrics_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        history = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("epoch"), int):
                history.append(EpochRecord.from_dict(record, f"{self.metrics_path.name} line"))
        return history

    # progress.json and stop --------------------------------------------------

    def write_progress(self, progress: Progress) -> None:
        atomic_write_json(self.progress_path, progress.to_dict())

    def read_progress(self) -> Progress | None:
        """The latest batch progress of a running run; None when there is none (yet)."""
        record = read_json(self.progress_path)
        try:
            return Progress.from_dict(record, self.progress_path.name) if record else None
        except RecordError:
            return None

    def clear_progress(self) -> None:
        self.progress_path.unlink(missing_ok=True)

    def request_stop(self) -> None:
        """Ask the worker to stop at its next batch (it keeps the model so far)."""
        if not self.stop_path.exists():  # the first request's time is the one kept
            atomic_write_text(self.stop_path, str(time.time()))

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def stop_request_time(self) -> float | None:
        """When Stop was first pressed (Unix seconds), or None when it never was.

        A stop file without a readable time (written by hand) counts as pressed now.
        """
        try:
            text = self.stop_path.read_text(encoding="utf-8")
        except OSError:
            return None
        try:
            return float(text)
        except ValueError:
            return time.time()

    # model.keras -------------------------------------------------------------

    def save_model(self, model: Any) -> None:
        """Write `model.keras` atomically (readers never see a half-written zip)."""
        tmp_model = self.path / ".model.tmp.keras"
        try:
            model.save(tmp_model)
            os.replace(tmp_model, self.model_path)
        finally:  # a full disk leaves the previous model.keras and no partial file
            tmp_model.unlink(missing_ok=True)

    # evaluation.json and predictions.npz -------------------------------------

    def save_evaluation(
        self, evaluation: Evaluation, probs: np.ndarray, y_true: np.ndarray
    ) -> None:
        """Store the test metrics and the predictions they came from.

        Args:
            evaluation: the metrics (`cnn_core.models.evaluate.summarize`).
            probs: float (n, n_classes) test-set probabilities.
            y_true: int (n,) test labels.
        """
        tmp_pred = self.path / ".predictions.tmp.npz"
        try:
            with open(tmp_pred, "wb") as handle:
                np.savez_compressed(handle, probs=probs.astype(np.float32), y_true=y_true)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_pred, self.predictions_path)
        finally:
            tmp_pred.unlink(missing_ok=True)
        atomic_write_json(self.evaluation_path, evaluation.to_dict())

    def read_evaluation(self) -> Evaluation | None:
        """The stored test metrics; None before evaluation or when the file is unusable."""
        record = read_json(self.evaluation_path)
        try:
            return Evaluation.from_dict(record, self.evaluation_path.name) if record else None
        except RecordError:
            return None

    def has_evaluation(self) -> bool:
        """Both the metrics and the predictions they came from are stored."""
        return self.read_evaluation() is not None and self.predictions_path.is_file()

    def read_predictions(
        self, n_classes: int | None = None, n_images: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The stored test-set predictions, checked to be whole.

        Args:
            n_classes: when given, the number of probability columns expected.
            n_images: when given, the number of test images expected.

        Returns:
            (probs, y_true): float32 (n, n_classes) probabilities and int64 (n,) labels.

        Raises:
            UserError: the file is missing, unreadable, or its arrays do not fit together.
        """
        path = self.predictions_path
        try:
            with np.load(path, allow_pickle=False) as data:
                probs, y_true = np.asarray(data["probs"]), np.asarray(data["y_true"])
        except FileNotFoundError as error:
            raise UserError(
                f"this run has no stored predictions ({path.name} is missing)"
            ) from error
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise UserError(f"the predictions file {path} is damaged ({error})") from error
        problem = predictions_problem(probs, y_true, n_classes)
        if not problem and n_images is not None and len(y_true) != n_images:
            problem = f"{len(y_true)} predictions where the evaluation counted {n_images} images"
        if problem:
            raise UserError(f"the predictions file {path} is damaged: {problem}")
        return probs.astype(np.float32), y_true.astype(np.int64)


@dataclass(frozen=True)
class LrTestFolder(RunFolder):
    """One learning-rate range test: a run folder's config, status, progress, stop
    request and worker log, plus its result. `load_run(path)` reads its state
    (a test whose worker died reads as interrupted, as a run does)."""

    @property
    def result_path(self) -> Path:
        return self.path / "lr_test.json"

    @property
    def runs_root(self) -> Path:
        """The runs folder (the store, or a private workspace's) the test belongs to."""
        return self.path.parent.parent


def predictions_problem(probs: np.ndarray, y_true: np.ndarray, n_classes: int | None) -> str:
    """What is wrong with stored predictions, or '' when they are usable."""
    if probs.ndim != 2 or y_true.ndim != 1 or len(probs) != len(y_true):
        return f"probs {probs.shape} and labels {y_true.shape} do not match"
    if n_classes is not None and probs.shape[1] != n_classes:
        return f"{probs.shape[1]} probability columns for {n_classes} classes"
    if not np.issubdtype(probs.dtype, np.floating) or not np.issubdtype(y_true.dtype, np.integer):
        return f"unexpected types {probs.dtype} and {y_true.dtype}"
    if not np.isfinite(probs).all():
        return "probabilities that are not finite numbers"
    if y_true.size and (y_true.min() < 0 or y_true.max() >= probs.shape[1]):
        return f"labels outside 0..{probs.shape[1] - 1}"
    return ""


def new_run_id(config: TrainConfig) -> str:
    """A sortable, unique, filesystem-safe id such as `20261123-101500-mnist-cnn-3fa2`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config.dataset}-{config.model.kind}-{secrets.token_hex(2)}"


def run_folder(run_id: str, root: Path | None = None) -> RunFolder:
    """The folder of `run_id`; UserError for ids that could escape the store."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise UserError(f"not a valid run id: {run_id!r}")
    return RunFolder((root or runs_root()) / run_id)


def create_run(config: TrainConfig, root: Path | None = None) -> RunFolder:
    """Make a run folder with its config and a `queued` status."""
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = run_folder(new_run_id(config), root)
    folder.path.mkdir()
    folder.write_config(config, find_dataset(config.dataset))
    folder.write_status(RunState.QUEUED, created=time.time())
    return folder
