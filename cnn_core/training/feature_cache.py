"""Frozen-layer outputs computed once per image and kept on disk (memory-mapped float16).

A frozen layer with no dropout and no batch norm below it (VGG16's base) gives
the same output for an image every epoch, so a run computes it once and trains
the layers above on it: the same mathematics as the whole network each epoch,
at a fraction of the cost.

One cache entry is one layer's outputs for one split of one dataset: a `.npy`
array float16 (n, *layer shape) opened with `mmap_mode="r"` (pages load as
batches read them, so the RSS stays near one batch), and a `.json` record
beside it. Its name carries the dataset, split, input size and layer; its
digest covers the exact images (so the seed, subset and split), the weights
of every layer up to the cached one, and the layer. The cache lives in
`$CNN_CACHE_DIR/features` (default `cache/features` beside the run store) and
holds at most `cap_bytes()` (`$CNN_FEATURE_CACHE_GB`, default 4 GB): the least
recently used entries go first. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cnn_core.base import settings
from cnn_core.store.atomic import atomic_write_json, read_json
from cnn_core.store.folder import runs_root

DEFAULT_CAP_GB = 4.0
BYTES_PER_VALUE = 2  # float16
EXTRACT_BATCH = 128


def cache_dir() -> Path:
    """`$CNN_CACHE_DIR/features`, default `cache/features` beside the run store."""
    root = settings.cache_dir() or runs_root().parent / "cache"
    return Path(root) / "features"


def cap_bytes() -> int:
    """The cache's size cap in bytes (`$CNN_FEATURE_CACHE_GB`, default 4)."""
    return int(settings.feature_cache_gb(DEFAULT_CAP_GB) * 1e9)


@dataclass(frozen=True)
class CacheKey:
    """What identifies one entry: the images, the weights below the layer, the layer."""

    dataset: str
    split: str  # "train", "val" or "test"
    seed: int
    input_size: int
    weights: str  # a digest of the weights up to `layer` (see models.vgg16.weights_digest)
    layer: str
    images: str  # the images' digests.array_digest

    @property
    def stem(self) -> str:
        """A readable, unique file stem: dataset-split-size-layer-digest."""
        digest = hashlib.blake2b(
            json.dumps(asdict(self), sort_keys=True).encode(), digest_size=8
        ).hexdigest()
        return f"{self.dataset}-{self.split}-s{self.input_size}-{self.layer}-{digest}"


def _paths(key: CacheKey) -> tuple[Path, Path]:
    folder = cache_dir()
    return folder / f"{key.stem}.npy", folder / f"{key.stem}.json"


def load(key: CacheKey) -> np.ndarray | None:
    """The cached outputs float16 (n, ...) memory-mapped read-only, or None when absent."""
    array_path, meta_path = _paths(key)
    if read_json(meta_path) is None or not array_path.is_file():
        return None
    try:
        array = np.load(array_path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):
        os.utime(meta_path)  # recently used: evicted last
    return array


def entry_bytes(n: int, shape: Sequence[int]) -> int:
    """Bytes an entry of n outputs of `shape` takes on disk."""
    return n * int(np.prod(shape)) * BYTES_PER_VALUE


def fits(nbytes: int) -> bool:
    """Whether an entry of `nbytes` fits under the cap at all."""
    return nbytes <= cap_bytes()


def compute(
    keys: Sequence[CacheKey],
    shapes: Sequence[tuple[int, ...]],
    images: np.ndarray,
    extract: Callable[[np.ndarray], Sequence[np.ndarray]],
    on_progress: Callable[[int, int], None] | None = None,
    batch: int = EXTRACT_BATCH,
) -> list[np.ndarray]:
    """Compute several layers' outputs for `images` in one pass and cache them.

    Args:
        keys: one key per layer, in the order `extract` returns them.
        shapes: each layer's output shape without the batch axis.
        images: uint8 (n, h, w, c) raw pixels.
        extract: maps float32 (b, h, w, c) images to one array (b, *shape) per layer.
        on_progress: called with (images done, n) after each batch.
        batch: images per `extract` call.

    Returns:
        The new entries, memory-mapped read-only float16 (n, *shape).

    Raises:
        ValueError: keys and shapes differ in length, or `extract` returns other shapes.
    """
    if len(keys) != len(shapes):
        raise ValueError(f"{len(keys)} keys for {len(shapes)} shapes")
    n = len(images)
    make_room(sum(entry_bytes(n, shape) for shape in shapes))
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = [folder / f".{key.stem}.{os.getpid()}.tmp.npy" for key in keys]
    try:
        arrays = [
            np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, *shape))
            for path, shape in zip(tmp, shapes, strict=True)
        ]
        for start in range(0, n, batch):
            outputs = extract(images[start : start + batch].astype(np.float32))
            for array, output in zip(arrays, outputs, strict=True):
                array[start : start + len(output)] = output
            if on_progress is not None:
                on_progress(min(n, start + batch), n)
        for array in arrays:
            array.flush()
        del arrays
        for key, path, shape in zip(keys, tmp, shapes, strict=True):
            array_path, meta_path = _paths(key)
            os.replace(path, array_path)
            record = {**asdict(key), "n": n, "shape": list(shape), "created": time.time()}
            atomic_write_json(meta_path, record)
    finally:
        for path in tmp:
            path.unlink(missing_ok=True)
    loaded = [load(key) for key in keys]
    if any(array is None for array in loaded):
        raise OSError(f"the feature cache in {folder} could not be read back")
    return loaded  # type: ignore[return-value]


@dataclass(frozen=True)
class CacheEntry:
    """One stored entry, as the Train page lists it."""

    name: str
    dataset: str
    split: str
    layer: str
    input_size: int
    n: int
    nbytes: int
    used: float  # Unix time of the last use


def entries() -> list[CacheEntry]:
    """Every complete entry, most recently used first."""
    folder = cache_dir()
    found = []
    for meta_path in folder.glob("*.json") if folder.is_dir() else ():
        record, array_path = read_json(meta_path), meta_path.with_suffix(".npy")
        if record is None or not array_path.is_file():
            continue
        with contextlib.suppress(OSError, KeyError, TypeError, ValueError):
            found.append(
                CacheEntry(
                    name=meta_path.stem,
                    dataset=str(record["dataset"]),
                    split=str(record["split"]),
                    layer=str(record["layer"]),
                    input_size=int(record["input_size"]),
                    n=int(record["n"]),
                    nbytes=array_path.stat().st_size,
                    used=meta_path.stat().st_mtime,
                )
            )
    return sorted(found, key=lambda e: e.used, reverse=True)


def total_bytes() -> int:
    """Bytes the cache holds on disk (entries and any leftovers)."""
    folder = cache_dir()
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def remove(name: str) -> None:
    """Delete one entry by name (its array and record)."""
    folder = cache_dir()
    for suffix in (".json", ".npy"):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)


def clear() -> int:
    """Delete every cached entry (and leftovers of interrupted writes); return bytes freed."""
    freed = total_bytes()
    folder = cache_dir()
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file():
                path.unlink(missing_ok=True)
    return freed


def make_room(nbytes: int) -> None:
    """Evict least recently used entries until `nbytes` more fit under the cap."""
    cap = cap_bytes()
    stored = entries()
    used = sum(e.nbytes for e in stored)
    while stored and used + nbytes > cap:
        oldest = stored.pop()
        remove(oldest.name)
        used -= oldest.nbytes
