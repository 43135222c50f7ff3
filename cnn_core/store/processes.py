"""Worker processes seen from the store: is a run's worker alive, and waiting for it to end."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


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


def wait_exited(pid: Any, start_time: str | None, timeout: float) -> bool:
    """Wait up to `timeout` s for process `pid` (started at `start_time`) to end; whether it did."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid, start_time):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
