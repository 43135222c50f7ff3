"""Every `CNN_*` environment setting, read in one place.

Each function reads its variable when called (tests and the worker's environment
change them at run time); a malformed number falls back to the default instead of
failing a page. The README's "Settings" table lists the same names.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR = "CNN_RUNS_DIR"  # the run store (default `runs/` in the working directory)
DATA_DIR = "CNN_DATA_DIR"  # datasets looked up first here, and imported image folders
PRIVATE_WORKSPACES = "CNN_PRIVATE_WORKSPACES"  # 1: each visitor gets a private workspace
WORKSPACE_MAX_QUEUED = "CNN_WORKSPACE_MAX_QUEUED"  # runs one workspace may have waiting
WORKSPACE_DATA_MB = "CNN_WORKSPACE_DATA_MB"  # uploaded data one workspace may keep
MAX_TRAININGS = "CNN_MAX_TRAININGS"  # trainings that run at once on this machine
MEMORY_LIMIT_MB = "CNN_MEMORY_LIMIT_MB"  # memory the guard assumes the machine has
CACHE_DIR = "CNN_CACHE_DIR"  # the frozen-feature cache (default: beside the run store)
FEATURE_CACHE_GB = "CNN_FEATURE_CACHE_GB"  # its size cap

DEFAULT_MAX_QUEUED = 8
DEFAULT_DATA_MB = 200
DEFAULT_MAX_TRAININGS = 1


def text(name: str) -> str:
    """The variable's value, stripped ('' when unset)."""
    return os.environ.get(name, "").strip()


def flag(name: str) -> bool:
    """Whether the variable is set to 1, true, yes or on (any case)."""
    return text(name).lower() in ("1", "true", "yes", "on")


def whole_number(name: str, default: int, minimum: int = 0) -> int:
    """The variable as an integer of at least `minimum` (`default` when unset or malformed)."""
    try:
        return max(minimum, int(text(name) or default))
    except ValueError:
        return max(minimum, default)


def number(name: str, default: float) -> float:
    """The variable as a float (`default` when unset or malformed)."""
    try:
        return float(text(name) or default)
    except ValueError:
        return default


def path(name: str) -> Path | None:
    """The variable as a path, None when unset or empty."""
    value = text(name)
    return Path(value) if value else None


def runs_dir() -> Path:
    """The whole run store: `$CNN_RUNS_DIR`, or `runs/` in the working directory."""
    return (path(RUNS_DIR) or Path("runs")).resolve()


def data_dir() -> Path | None:
    """`$CNN_DATA_DIR`, None when unset."""
    return path(DATA_DIR)


def private_workspaces() -> bool:
    """Whether this deployment gives each visitor a private workspace."""
    return flag(PRIVATE_WORKSPACES)


def max_queued() -> int:
    """Runs one workspace may have waiting for a slot (at least 1)."""
    return whole_number(WORKSPACE_MAX_QUEUED, DEFAULT_MAX_QUEUED, minimum=1)


def workspace_data_bytes() -> int:
    """Uploaded data one workspace may keep, in bytes."""
    return whole_number(WORKSPACE_DATA_MB, DEFAULT_DATA_MB) * 1024 * 1024


def keras_home() -> Path:
    """Keras' cache folder: `$KERAS_HOME`, default `~/.keras` (Keras' own variable)."""
    return path("KERAS_HOME") or Path.home() / ".keras"


def memory_limit_text() -> str:
    """`$CNN_MEMORY_LIMIT_MB` as written ('' when unset); `training.resources` parses it."""
    return text(MEMORY_LIMIT_MB)


def cache_dir() -> Path | None:
    """`$CNN_CACHE_DIR`, None when unset."""
    return path(CACHE_DIR)


def feature_cache_gb(default: float) -> float:
    """`$CNN_FEATURE_CACHE_GB`, never below 0."""
    return max(0.0, number(FEATURE_CACHE_GB, default))


def max_trainings() -> int:
    """Trainings that may run at once on this machine (at least 1)."""
    return whole_number(MAX_TRAININGS, DEFAULT_MAX_TRAININGS, minimum=1)
