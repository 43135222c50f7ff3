"""Private workspaces on a shared deployment: whose runs a visitor sees and controls.

With `$CNN_PRIVATE_WORKSPACES=1` every visitor gets an unguessable workspace id
(`new_workspace_id`, carried in the page URL as `?ws=<id>`) and the run store is
split by it:

    runs/                          the store (`$CNN_RUNS_DIR`), as for a local install
      .workspaces/<ws id>/         one workspace's runs (run folders as usual)
        <run id>/public            present when the owner shared the run (read-only)

Without the setting there is one workspace, the store itself: runs live in
`runs/<run id>/` exactly as before, and nothing here changes what a local
install sees.

Which workspace is current is asked of a resolver the app registers
(`set_resolver`; the pages register one that reads the session's `?ws=`): a
worker process or a script has none, so for them the current root is the store.
Every read or write of a run by id goes through `owned_run` (controls: stop,
rename, delete, public marking) or `readable_run` (viewing); a foreign id gets
the same message as an unknown one, so ids of other workspaces do not leak.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cnn_core.base.errors import UserError

if TYPE_CHECKING:  # runs imports this module: no import of it at load time
    from cnn_core.store.runs import RunFolder, RunSummary

PRIVATE_ENV = "CNN_PRIVATE_WORKSPACES"
WORKSPACES_DIR = ".workspaces"  # a dot name is never a run id, so old listings skip it
# secrets.token_urlsafe(24): 32 characters of [A-Za-z0-9_-], 192 random bits.
WORKSPACE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
DEFAULT_MAX_QUEUED = 8  # queued runs per workspace (`$CNN_WORKSPACE_MAX_QUEUED`)
DEFAULT_DATA_MB = 200  # uploaded data per workspace (`$CNN_WORKSPACE_DATA_MB`)

_resolver: Callable[[], str | None] | None = None


def private_enabled() -> bool:
    """Whether this deployment gives each visitor a private workspace."""
    return os.environ.get(PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def new_workspace_id() -> str:
    """A fresh, unguessable workspace id (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def valid_workspace_id(value: object) -> bool:
    """Whether `value` has the shape of a workspace id (and so cannot escape the store)."""
    return isinstance(value, str) and bool(WORKSPACE_ID_PATTERN.match(value))


def set_resolver(resolver: Callable[[], str | None] | None) -> None:
    """Register how the current workspace id is found (None: no workspace, the store)."""
    global _resolver
    _resolver = resolver


def current_workspace() -> str | None:
    """The current workspace's id; None without private workspaces or a resolver.

    Raises:
        UserError: the resolver returned something that is not a workspace id.
    """
    if not private_enabled() or _resolver is None:
        return None
    workspace = _resolver()
    if workspace is not None and not valid_workspace_id(workspace):
        raise UserError(f"not a valid workspace id: {workspace!r}")
    return workspace


def store_root() -> Path:
    """The whole run store: `$CNN_RUNS_DIR`, or `runs/` in the working directory."""
    return Path(os.environ.get("CNN_RUNS_DIR", "runs")).resolve()


def workspace_root(workspace: str | None, store: Path | None = None) -> Path:
    """The folder of `workspace`'s runs (the store itself for None).

    Raises:
        UserError: `workspace` is not a valid id.
    """
    store = store or store_root()
    if workspace is None:
        return store
    if not valid_workspace_id(workspace):
        raise UserError(f"not a valid workspace id: {workspace!r}")
    return store / WORKSPACES_DIR / workspace


def current_root() -> Path:
    """The current workspace's runs folder (what `runs.runs_root()` returns)."""
    return workspace_root(current_workspace())


def store_of(root: Path) -> Path:
    """The store a runs folder belongs to: shared things (training slots) live there."""
    root = root.resolve()
    return root.parent.parent if root.parent.name == WORKSPACES_DIR else root


def data_folder(base: Path) -> Path:
    """Where the current workspace keeps uploaded datasets under the data folder `base`.

    `base` itself without private workspaces (or outside the app); else
    `base/.workspaces/<ws id>/`.
    """
    workspace = current_workspace()
    return base if workspace is None else base / WORKSPACES_DIR / workspace


def _limit(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


def max_queued() -> int:
    """Runs one workspace may have waiting for a slot (`$CNN_WORKSPACE_MAX_QUEUED`)."""
    return max(1, _limit("CNN_WORKSPACE_MAX_QUEUED", DEFAULT_MAX_QUEUED))


def data_quota_bytes() -> int:
    """Uploaded data one workspace may keep (`$CNN_WORKSPACE_DATA_MB`, in MB)."""
    return _limit("CNN_WORKSPACE_DATA_MB", DEFAULT_DATA_MB) * 1024 * 1024


def folder_bytes(folder: Path) -> int:
    """Total size of the regular files under `folder` (0 when it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def check_data_quota(base: Path, adding_bytes: int) -> None:
    """Refuse an upload that would take the workspace's data past its quota.

    Args:
        base: the data folder (the workspace's is `data_folder(base)`).
        adding_bytes: the size of what is about to be written.

    Raises:
        UserError: over the quota, with how much is used and allowed.
    """
    used, quota = folder_bytes(data_folder(base)), data_quota_bytes()
    if used + adding_bytes > quota:
        raise UserError(
            f"this workspace may keep {quota / 2**20:.0f} MB of uploaded data; it holds "
            f"{used / 2**20:.1f} MB and this upload adds {adding_bytes / 2**20:.1f} MB: "
            "delete a dataset first"
        )


# Ownership and sharing ------------------------------------------------------------


def owns(folder: RunFolder) -> bool:
    """Whether `folder` is a run of the current workspace (never a starter model)."""
    return folder.path.resolve().parent == current_root()


def is_public(folder: RunFolder) -> bool:
    """Whether the run's owner shared it (read-only) with every workspace."""
    return folder.public_path.is_file()


def can_read(folder: RunFolder) -> bool:
    """Own runs, the shipped starter models, and runs their owners made public."""
    from cnn_core.store.runs import STARTER_ROOT

    parent = folder.path.resolve().parent
    if parent == current_root() or parent == STARTER_ROOT:
        return True
    return (
        store_of(parent) == store_root()
        and parent.parent.name == WORKSPACES_DIR
        and (is_public(folder))
    )


def _unknown(run_id: str) -> UserError:
    return UserError(f"there is no run {run_id!r} in this workspace")


def owned_run(run_id: str) -> RunFolder:
    """The folder of one of the current workspace's runs, to change it.

    Raises:
        UserError: an invalid id, or no such run in this workspace (a run of
            another workspace, public or not, is refused alike).
    """
    from cnn_core.store.runs import run_folder

    folder = run_folder(run_id, current_root())
    if not folder.path.is_dir() or not owns(folder):
        raise _unknown(run_id)
    return folder


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


def set_public(folder: RunFolder, public: bool) -> None:
    """Share the run read-only with every workspace, or stop sharing it.

    Raises:
        UserError: not the current workspace's run.
    """
    from cnn_core.store.runs import atomic_write_text

    require_owner(folder)
    marker = folder.public_path
    if public:
        atomic_write_text(marker, "shared read-only\n")
    else:
        marker.unlink(missing_ok=True)


def public_runs() -> list[RunSummary]:
    """Runs of other workspaces that their owners made public, newest first."""
    from cnn_core.store.runs import list_runs

    folder = store_root() / WORKSPACES_DIR
    if current_workspace() is None or not folder.is_dir():
        return []
    mine = current_root()
    shared = [
        run
        for ws in folder.iterdir()
        if valid_workspace_id(ws.name) and ws.resolve() != mine
        for run in list_runs(ws)
        if is_public(run)
    ]
    return sorted(shared, key=lambda r: (r.created, r.run_id), reverse=True)


def readable_run(run_id: str) -> RunSummary:
    """A run the current workspace may view: its own, a public one, or a starter model.

    Raises:
        UserError: an invalid id, or no such run visible from this workspace.
    """
    from cnn_core.store.runs import STARTER_ROOT, list_runs, load_run, run_folder

    own = run_folder(run_id, current_root())
    if own.path.is_dir():
        return load_run(own.path)
    for run in [*public_runs(), *list_runs(STARTER_ROOT)]:
        if run.run_id == run_id:
            return run
    raise _unknown(run_id)
