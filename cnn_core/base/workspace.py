"""Which workspace is current, and where its runs and uploaded data live.

With `$CNN_PRIVATE_WORKSPACES=1` every visitor gets an unguessable workspace id
(`new_workspace_id`, carried in the page URL as `?ws=<id>`) and the run store and
the data folder are split by it:

    runs/                          the store (`$CNN_RUNS_DIR`), as for a local install
      .workspaces/<ws id>/         one workspace's runs (run folders as usual)
    <data dir>/.workspaces/<ws id>/my_images/   one workspace's imported datasets

Without the setting there is one workspace, the store itself.

Which workspace is current is asked of a resolver the app registers
(`set_resolver`; the pages register one that reads the session's `?ws=`): a
worker process or a script has none, so for them the current root is the store.
This module only locates things; whether a workspace may read or change a run is
decided by the store's gate (`cnn_core.store.access`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

from cnn_core.base import settings
from cnn_core.base.errors import UserError

WORKSPACES_DIR = ".workspaces"  # a dot name is never a run id, so listings skip it
# secrets.token_urlsafe(24): 32 characters of [A-Za-z0-9_-], 192 random bits.
WORKSPACE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

_resolver: Callable[[], str | None] | None = None


def private_enabled() -> bool:
    """Whether this deployment gives each visitor a private workspace."""
    return settings.private_workspaces()


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
    return settings.runs_dir()


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
    """The current workspace's runs folder."""
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


def max_queued() -> int:
    """Runs one workspace may have waiting for a slot (`$CNN_WORKSPACE_MAX_QUEUED`)."""
    return settings.max_queued()


def data_quota_bytes() -> int:
    """Uploaded data one workspace may keep (`$CNN_WORKSPACE_DATA_MB`, in MB)."""
    return settings.workspace_data_bytes()


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
            "delete a dataset first (Data page, My images)"
        )
