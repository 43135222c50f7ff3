"""Exact content keys for arrays: the one digest every cache here keys arrays by.

Used by the VGG16 feature cache (which images), the Inspector's last-image
cache, and the pages' figure and tile caches (`pages/_shared/figure_cache.py`):
dtype, shape and every byte go in, so any change to an array is a new key.
"""

from __future__ import annotations

import hashlib

import numpy as np


def array_digest(array: np.ndarray) -> str:
    """A hex digest of `array`'s dtype, shape and every byte (any memory layout)."""
    array = np.ascontiguousarray(array)
    hasher = hashlib.blake2b(f"{array.dtype.str}{array.shape}".encode(), digest_size=16)
    hasher.update(memoryview(array).cast("B"))
    return hasher.hexdigest()
