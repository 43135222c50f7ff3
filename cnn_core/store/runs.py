"""The run catalog: what pages and lists know about each run, read from its folder.

`load_run` reads a run folder into a `RunSummary` (never raising: a broken folder
is listed as broken; a run whose worker died reads as interrupted); `list_runs`
lists a runs folder. Reads are cached by the files' signatures. Which runs a
workspace may see or change is decided in `cnn_core.store.access`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cnn_core.base.errors import UserError
from cnn_core.data.registry import DatasetInfo, find_dataset
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import RunNotes, RunState, Status, whole_epochs
from cnn_core.store.folder import (
    RUN_ID_PATTERN,
    STARTING_GRACE_S,
    RunFolder,
    runs_root,
    starter_root,
)
from cnn_core.store.processes import pid_alive
from cnn_core.store.signed_cache import SignedCache


@dataclass(frozen=True)
class RunSummary(RunFolder):
    """What lists and pages need to know about a run, read from its folder."""

    state: RunState = RunState.BROKEN
    config: TrainConfig | None = None
    status: Status | None = None  # None for a broken folder
    epochs_done: int = 0  # epochs that ran all their batches (`records.whole_epochs`)
    best_val_accuracy: float | None = None
    test_accuracy: float | None = None
    message: str = ""
    notes: RunNotes = RunNotes()
    recorded_dataset: DatasetInfo | None = None  # as stored at launch (`read_dataset`)

    @property
    def dataset(self) -> DatasetInfo | None:
        """The run's dataset: as recorded at launch (what the model was trained on), else
        the registry's entry for its key (older runs); None when neither is known."""
        if self.recorded_dataset is not None:
            return self.recorded_dataset
        return find_dataset(self.config.dataset) if self.config else None

    stop_requested_at: float | None = None  # when Stop was pressed (None: never)

    @property
    def mirror_average(self) -> bool:
        """The run predicts with test-time flips (`AugmentSpec.mirror_average`): every
        prediction the studio makes with its model averages the mirror image's."""
        return bool(self.config and self.config.augment.mirror_average)

    @property
    def stopping(self) -> bool:
        """Stop was pressed and the worker has not ended the run yet."""
        return self.active and self.stop_requested_at is not None

    @property
    def starter(self) -> bool:
        """A model that ships with the project (made by scripts/make_starter_model.py)."""
        return self.path.parent == starter_root()

    @property
    def active(self) -> bool:
        return self.state.active

    @property
    def created(self) -> float:
        return (self.status.created if self.status else None) or 0.0


@dataclass(frozen=True)
class _StoredRecords:
    """What `load_run` reads from a run's files, before the liveness check."""

    status: Status
    config: TrainConfig
    epochs_done: int
    best_val_accuracy: float | None
    test_accuracy: float | None
    notes: RunNotes
    dataset: DatasetInfo | None


# load_run's reads, keyed by folder and the stat of every file it reads: lists and
# pickers call load_run for every run on every page render.
READ_CACHE_SIZE = 512
read_cache: SignedCache[_StoredRecords | str] = SignedCache(READ_CACHE_SIZE)


def files_signature(folder: RunFolder) -> tuple:
    """(mtime_ns, size, inode) of each file `load_run` reads (None when missing): any write,
    append or atomic replace changes it. Caches of what is read from a run key on it."""
    signature = []
    for path in (
        folder.status_path,
        folder.config_path,
        folder.metrics_path,
        folder.notes_path,
        folder.evaluation_path,
    ):
        try:
            stat = path.stat()
            signature.append((stat.st_mtime_ns, stat.st_size, stat.st_ino))
        except OSError:
            signature.append(None)
    return tuple(signature)


def _read_records(folder: RunFolder) -> _StoredRecords | str:
    """The run's stored records, or what makes the folder broken; cached by file signature."""
    signature = files_signature(folder)
    cached = read_cache.get(folder.path, signature)
    if cached is not None:
        return cached
    try:
        status, config = folder.read_status(), folder.read_config()
        history, notes = folder.read_history(), folder.read_notes()
    except UserError as error:
        records: _StoredRecords | str = f"broken run folder: {error}"
    else:
        whole = whole_epochs(history)
        val = [r.val_accuracy for r in whole if r.val_accuracy is not None]
        evaluation = folder.read_evaluation()
        records = _StoredRecords(
            status,
            config,
            epochs_done=len(whole),
            best_val_accuracy=max(val) if val else None,
            test_accuracy=evaluation.accuracy if evaluation else None,
            notes=notes,
            dataset=folder.read_dataset(),
        )
    if signature == files_signature(folder):  # not written while being read
        read_cache.put(folder.path, signature, records)
    return records


def load_run(path: Path) -> RunSummary:
    """Read one run folder; never raises for a broken folder (state `broken`).

    The files are parsed again only when one of them changed (`_read_records`);
    whether an active run's worker still lives is checked on every call.
    """
    records = _read_records(RunFolder(path))
    if isinstance(records, str):
        return RunSummary(path, message=records)
    status = records.status
    state, message = status.state, status.message
    if state.active and not pid_alive(status.pid, status.pid_start):
        starting = time.time() - (status.updated or 0.0) < STARTING_GRACE_S
        if status.pid is not None or not starting:
            state = RunState.INTERRUPTED
            message = "the worker process ended without finishing"
    return RunSummary(
        path,
        state=state,
        config=records.config,
        status=status,
        epochs_done=records.epochs_done,
        best_val_accuracy=records.best_val_accuracy,
        test_accuracy=records.test_accuracy,
        message=message,
        notes=records.notes,
        recorded_dataset=records.dataset,
        stop_requested_at=RunFolder(path).stop_request_time() if state.active else None,
    )


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run folder under the store, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name)]
    runs = [load_run(p) for p in folders]
    return sorted(runs, key=lambda r: (r.created, r.run_id), reverse=True)
