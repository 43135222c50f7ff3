"""Atomic file writes for the run store: readers see the old or the new content, never a part.

Temp file in the same folder, flush, fsync, `os.replace` (DESIGN.md, run store rules).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


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
    """`atomic_write_text` of a JSON record."""
    atomic_write_text(path, json.dumps(record, indent=1))


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when missing, unreadable or not an object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
