"""The one workspace gate: which runs the current workspace may view, and may change.

Viewing a run by id goes through `readable_run` (its own runs, runs other workspaces
made public, the shipped starter models); listing through `visible_runs` /
`model_runs`. Every change of a run (rename, notes, stop, evaluation, public
marking, delete) goes through a function here that checks ownership first: pages
never call a `RunFolder` write method themselves (tests/test_architecture.py).
A foreign id gets the same message as an unknown one, so ids of other workspaces do
not leak. Without private workspaces every run of the store is the visitor's own;
the starter models are read-only either way.

The worker writes its own run's files through `RunFolder` directly: it was handed
that folder when the run was created in the current workspace.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from cnn_core.base import workspace
from cnn_core.base.errors import UserError
from cnn_core.schema.config import MAX_NAME_CHARS, TrainConfig
from cnn_core.schema.records import Evaluation, RunNotes, RunState
from cnn_core.store.atomic import atomic_write_text
from cnn_core.store.folder import RunFolder, run_folder, starter_root
from cnn_core.store.lr_tests import LR_TESTS_DIR
from cnn_core.store.processes import pid_alive, wait_exited
from cnn_core.store.runs import RunSummary, list_runs, load_run

# Viewing ---------------------------------------------------------------------------


def owns(folder: RunFolder) -> bool:
    """Whether `folder` is a run (or a learning-rate test) of the current workspace
    (never a starter model)."""
    parent = folder.path.resolve().parent
    if parent.name == LR_TESTS_DIR:
        parent = parent.parent
    return parent == workspace.current_root()


def is_public(folder: RunFolder) -> bool:
    """Whether the run's owner shared it (read-only) with every workspace."""
    return folder.public_path.is_file()


def _unknown(run_id: str) -> UserError:
    return UserError(f"there is no run {run_id!r} in this workspace")


def public_runs() -> list[RunSummary]:
    """Runs of other workspaces that their owners made public, newest first."""
    folder = workspace.store_root() / workspace.WORKSPACES_DIR
    if workspace.current_workspace() is None or not folder.is_dir():
        return []
    mine = workspace.current_root()
    shared = [
        run
        for ws in folder.iterdir()
        if workspace.valid_workspace_id(ws.name) and ws.resolve() != mine
        for run in list_runs(ws)
        if is_public(run)
    ]
    return sorted(shared, key=lambda r: (r.created, r.run_id), reverse=True)


def readable_run(run_id: str) -> RunSummary:
    """A run the current workspace may view: its own, a public one, or a starter model.

    Raises:
        UserError: an invalid id, or no such run visible from this workspace.
    """
    own = run_folder(run_id, workspace.current_root())
    if own.path.is_dir():
        return load_run(own.path)
    for run in [*public_runs(), *list_runs(starter_root())]:
        if run.run_id == run_id:
            return run
    raise _unknown(run_id)


def model_runs(root: Path | None = None) -> list[RunSummary]:
    """Runs with a saved model that are not training any more, newest first, then
    runs other workspaces shared (private workspaces only), then the starter models
    that ship with the project."""

    def usable(found: list[RunSummary]) -> list[RunSummary]:
        return [r for r in found if r.has_model and not r.active and r.state != RunState.BROKEN]

    shared = public_runs() if root is None else []
    return (
        usable(list_runs(root))
        + usable(shared)
        + [r for r in list_runs(starter_root()) if r.has_model]
    )


# Changing ------------------------------------------------------------------------


def require_owner(folder: RunFolder) -> None:
    """Refuse to change a run that is not the current workspace's.

    Raises:
        UserError: a starter model, a public run of another workspace, or any other.
    """
    if not owns(folder):
        raise UserError(
            f"run {folder.run_id!r} is not one of this workspace's runs: "
            "it can be viewed when shared, never changed"
        )


def check_editable(folder: RunFolder) -> None:
    """Refuse changes to a starter model, or (private workspaces) another's run.

    Raises:
        UserError: what refuses the change (a folder that does not exist reads as an
            unknown run, as for a foreign id).
    """
    if folder.path.parent == starter_root():
        raise UserError("the starter models ship with CNN Studio and cannot be changed")
    if not folder.path.is_dir():  # an id of another workspace names no folder here
        raise _unknown(folder.run_id)
    if workspace.private_enabled():
        require_owner(folder)


def rename_run(folder: RunFolder, name: str) -> TrainConfig:
    """Give the run a new name (stored in its config; '' shows the run id).

    Raises:
        UserError: not changeable here, a name over MAX_NAME_CHARS, or an unreadable config.
    """
    check_editable(folder)
    name = name.strip()
    if len(name) > MAX_NAME_CHARS:
        raise UserError(f"a run name has at most {MAX_NAME_CHARS} characters")
    config = replace(folder.read_config(), name=name)
    folder.write_config(config)
    return config


def save_notes(folder: RunFolder, notes: RunNotes) -> None:
    """Replace the run's tags and notes.

    Raises:
        UserError: not changeable here.
    """
    check_editable(folder)
    folder.write_notes(notes)


def save_evaluation(
    folder: RunFolder, evaluation: Evaluation, probs: np.ndarray, y_true: np.ndarray
) -> None:
    """Store a (re-)evaluation of the run (`RunFolder.save_evaluation`).

    Raises:
        UserError: not changeable here.
    """
    check_editable(folder)
    folder.save_evaluation(evaluation, probs, y_true)


def request_stop(folder: RunFolder) -> None:
    """Ask the run's worker to stop at its next batch (it keeps the model so far).

    Raises:
        UserError: not changeable here.
    """
    check_editable(folder)
    folder.request_stop()


def set_public(folder: RunFolder, public: bool) -> None:
    """Share the run read-only with every workspace, or stop sharing it.

    Raises:
        UserError: not the current workspace's run.
    """
    check_editable(folder)
    require_owner(folder)  # also without private workspaces: sharing is between workspaces
    marker = folder.public_path
    if public:
        atomic_write_text(marker, "shared read-only\n")
    else:
        marker.unlink(missing_ok=True)


def delete_run(folder: RunFolder, stop_timeout: float = 60.0) -> None:
    """Delete a run folder, stopping its worker first when it is queued or training.

    The worker is asked to stop (it ends at its next batch); one that has not
    ended after `stop_timeout` seconds is terminated.

    Raises:
        UserError: not changeable here, or a worker that would not end.
    """
    check_editable(folder)
    if load_run(folder.path).active:
        folder.request_stop()
        if not _wait_inactive(folder.path, stop_timeout):
            status = folder.read_status()
            if pid_alive(status.pid, status.pid_start):
                os.kill(status.pid, signal.SIGTERM)
        if not _wait_inactive(folder.path, 10.0):
            raise UserError(f"run {folder.run_id} is still training and could not be stopped")
        status = folder.read_status()  # it may still be closing its files
        wait_exited(status.pid, status.pid_start, 10.0)
    shutil.rmtree(folder.path)


def _wait_inactive(path: Path, timeout: float) -> bool:
    """Wait up to `timeout` s for the run in `path` to stop being active; whether it did."""
    deadline = time.monotonic() + timeout
    while load_run(path).active:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
