"""The run store: one folder per run under `runs/` (or `$CNN_RUNS_DIR`).

Layout of `runs/<run_id>/`:
    config.json      the TrainConfig (with schema version)
    status.json      state, pid, heartbeat, timings, message
    metrics.jsonl    one JSON line per finished epoch, append-only
    progress.json    batch progress within the current epoch (throttled)
    stop             present once Stop was pressed
    model.keras      the trained model, written when training ends
    evaluation.json  test metrics; predictions.npz the test-set probabilities
    tensorboard/     logs for `tensorboard --logdir runs`
    worker.log       the worker's stdout/stderr

Every file except the metrics log is replaced atomically; a torn last line in
the log is ignored. The store never imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnn_core.config import TrainConfig
from cnn_core.errors import UserError

SCHEMA_VERSION = 1
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("completed", "stopped", "failed")
# Shown for runs whose files say more than their state does:
INTERRUPTED = "interrupted"  # status says active, but the worker process is gone
BROKEN = "broken"  # the folder cannot be read as a run
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
# Runs that ship with the project (the starter MNIST model), read-only.
STARTER_ROOT = Path(__file__).resolve().parent / "starter"


def runs_root() -> Path:
    """Where runs live: `$CNN_RUNS_DIR`, or `runs/` in the working directory."""
    return Path(os.environ.get("CNN_RUNS_DIR", "runs")).resolve()


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so readers see the old or the new content, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, record: dict[str, Any]) -> None:
    """`atomic_write_text` of a JSON record stamped with the schema version."""
    atomic_write_text(path, json.dumps({"schema_version": SCHEMA_VERSION, **record}, indent=1))


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when missing, unreadable or not an object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def new_run_id(config: TrainConfig) -> str:
    """A sortable, unique, filesystem-safe id such as `20261123-101500-mnist-cnn-3fa2`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config.dataset}-{config.model.kind}-{secrets.token_hex(2)}"


def run_dir(run_id: str, root: Path | None = None) -> Path:
    """The folder of `run_id`; UserError for ids that could escape the store."""
    if not RUN_ID_PATTERN.match(run_id):
        raise UserError(f"not a valid run id: {run_id!r}")
    return (root or runs_root()) / run_id


def create_run(config: TrainConfig, root: Path | None = None) -> Path:
    """Make a run folder with its config and a `queued` status."""
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    path = run_dir(new_run_id(config), root)
    path.mkdir()
    atomic_write_json(path / "config.json", {"config": config.to_dict()})
    write_status(path, "queued", created=time.time())
    return path


def write_status(path: Path, state: str, **fields: Any) -> dict[str, Any]:
    """Replace `status.json`, keeping earlier fields not given again."""
    record = read_json(path / "status.json") or {}
    record.pop("schema_version", None)
    record.update(fields, state=state, updated=time.time())
    atomic_write_json(path / "status.json", record)
    return record


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record as a JSON line, flushed to disk."""
    line = json.dumps(record, separators=(",", ":")) + "\n"
    with open(path / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every complete epoch record; a torn or garbled line is skipped."""
    try:
        text = (path / "metrics.jsonl").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("epoch"), int):
            records.append(record)
    return records


def request_stop(path: Path) -> None:
    """Ask the worker to stop at its next batch (it keeps the model so far)."""
    atomic_write_text(path / "stop", str(time.time()))


def stop_requested(path: Path) -> bool:
    """Whether Stop was pressed for this run."""
    return (path / "stop").exists()


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: Any, start_time: str | None = None) -> bool:
    """Whether process `pid` runs (not a zombie), and is the one that started then."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): os.kill is all we can know
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False
    return start_time is None or process_start_time(pid) == start_time


@dataclass(frozen=True)
class RunSummary:
    """What lists and pages need to know about a run, read from its folder."""

    run_id: str
    path: Path
    state: str  # queued, running, completed, stopped, failed, interrupted or broken
    config: TrainConfig | None
    status: dict[str, Any]
    epochs_done: int
    best_val_accuracy: float | None
    test_accuracy: float | None
    message: str

    @property
    def has_model(self) -> bool:
        return (self.path / "model.keras").is_file()

    @property
    def starter(self) -> bool:
        """A model that ships with the project (made by scripts/make_starter_model.py)."""
        return self.path.parent == STARTER_ROOT

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def created(self) -> float:
        return float(self.status.get("created") or 0.0)


def load_run(path: Path) -> RunSummary:
    """Read one run folder; never raises for a broken folder (state `broken`)."""
    status = read_json(path / "status.json") or {}
    saved = read_json(path / "config.json")
    config, message = None, str(status.get("message", ""))
    try:
        if saved is None or status.get("schema_version") != SCHEMA_VERSION:
            raise UserError("missing or unreadable config.json / status.json")
        config = TrainConfig.from_dict(saved["config"])
        state = str(status.get("state"))
        if state not in ACTIVE_STATES + FINAL_STATES:
            raise UserError(f"unknown state {state!r}")
    except (UserError, KeyError, TypeError) as error:
        state, message = BROKEN, f"broken run folder: {error}"
    if state in ACTIVE_STATES and not pid_alive(status.get("pid"), status.get("pid_start")):
        # A queued run without a pid yet is still starting; give it a moment.
        just_created = time.time() - float(status.get("updated") or 0) < 30
        if status.get("pid") is not None or not just_created:
            state, message = INTERRUPTED, "the worker process ended without finishing"
    history = read_history(path)
    val = [r["val_accuracy"] for r in history if isinstance(r.get("val_accuracy"), int | float)]
    evaluation = read_json(path / "evaluation.json") or {}
    test_acc = evaluation.get("accuracy")
    return RunSummary(
        run_id=path.name,
        path=path,
        state=state,
        config=config,
        status=status,
        epochs_done=len(history),
        best_val_accuracy=max(val) if val else None,
        test_accuracy=float(test_acc) if isinstance(test_acc, int | float) else None,
        message=message,
    )


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run folder under the store, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name)]
    runs = [load_run(p) for p in folders if not p.name.startswith(".")]
    return sorted(runs, key=lambda r: (r.created, r.run_id), reverse=True)


def model_runs(root: Path | None = None) -> list[RunSummary]:
    """Runs with a saved model that are not training any more, newest first,
    then the starter models that ship with the project."""
    trained = [r for r in list_runs(root) if r.has_model and not r.active and r.state != BROKEN]
    return trained + [r for r in list_runs(STARTER_ROOT) if r.has_model]


def find_run(run_id: str, root: Path | None = None) -> RunSummary:
    """A run of the store or a starter run, by id; UserError when there is none."""
    for base in (root or runs_root(), STARTER_ROOT):
        path = run_dir(run_id, base)
        if path.is_dir():
            return load_run(path)
    raise UserError(f"run {run_id} does not exist (any more)")


def read_evaluation(path: Path) -> dict[str, Any] | None:
    """The stored test metrics of a run, or None before evaluation."""
    return read_json(path / "evaluation.json")


def read_progress(path: Path) -> dict[str, Any] | None:
    """The latest batch progress of a running run."""
    return read_json(path / "progress.json")
