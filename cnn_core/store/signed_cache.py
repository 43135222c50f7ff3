"""A bounded cache of what was read from a run folder, valid while its files are unchanged.

Pages list every run on every render; what is read from a run (its records, the
doctor's verdict) is kept per folder with the files' signature at the time of
reading (`runs.files_signature`), and served again only while the signature is the
same. Least recently used entries go first; shared by the server's sessions (the
values are frozen), so one lock guards it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Generic, TypeVar

Value = TypeVar("Value")


class SignedCache(Generic[Value]):
    """Values per run folder, each with the signature it was read under."""

    def __init__(self, size: int) -> None:
        self.size = size  # most entries kept
        self._entries: OrderedDict[Path, tuple[Hashable, Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, signature: Hashable) -> Value | None:
        """The value read under `signature`, or None (never read, or the files changed)."""
        with self._lock:
            cached = self._entries.get(path)
            if cached is None or cached[0] != signature:
                return None
            self._entries.move_to_end(path)
            return cached[1]

    def put(self, path: Path, signature: Hashable, value: Value) -> None:
        """Keep `value`, read under `signature`; the least recently used go past `size`."""
        with self._lock:
            self._entries[path] = (signature, value)
            self._entries.move_to_end(path)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
