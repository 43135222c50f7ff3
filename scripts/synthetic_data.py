"""Tiny generated datasets in the real on-disk formats, for tests and screenshots without downloads.

Class k of the digit-like sets is a bright horizontal band at a class-specific
height plus noise, so a small model learns it in an epoch or two (well above
chance) while the files exercise the same readers as the real datasets.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def synthetic_images(
    n: int, size: int = 28, channels: int = 1, n_classes: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, size, size, channels) and int labels (n,), classes balanced."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, size, size, channels), dtype=np.uint8)
    band = max(1, size // (n_classes + 2))
    for i, label in enumerate(labels):
        top = band * (label + 1)
        images[i, top : top + band, :, :] = 255
    return images, labels.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped IDX file (the MNIST format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist_like(
    folder: Path, n_train: int = 600, n_test: int = 200, seed: int = 0, sort_by_class: bool = False
) -> Path:
    """A folder of the four MNIST/Fashion-MNIST IDX .gz files."""
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = synthetic_images(n_train, seed=seed)
    x_test, y_test = synthetic_images(n_test, seed=seed + 1)
    if sort_by_class:
        order = np.argsort(y_train, kind="stable")
        x_train, y_train = x_train[order], y_train[order]
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train[..., 0])
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test[..., 0])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test)
    return folder


def write_cifar_like(folder: Path, per_batch: int = 40, n_test: int = 50, seed: int = 0) -> Path:
    """A `cifar-10-batches-py` folder: five pickled training batches and a test batch."""
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, n: int, batch_seed: int) -> None:
        images, labels = synthetic_images(n, size=32, channels=3, seed=batch_seed)
        record = {
            b"data": images.transpose(0, 3, 1, 2).reshape(n, -1),  # CIFAR stores CHW rows
            b"labels": labels.tolist(),
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(record, handle)

    for i in range(1, 6):
        dump(f"data_batch_{i}", per_batch, seed + i)
    dump("test_batch", n_test, seed + 10)
    return folder


def write_all(root: Path) -> Path:
    """MNIST, Fashion-MNIST and CIFAR-10 look-alikes under `root` (a CNN_DATA_DIR)."""
    write_mnist_like(root / "mnist", seed=1)
    write_mnist_like(root / "fashion-mnist", seed=2)
    write_cifar_like(root / "cifar-10-batches-py", seed=3)
    return root


def random_predictions(
    n_classes: int = 4, n: int = 300, seed: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """probs float32 (n, n_classes) that are right about 60% of the time, and y_true (n,)."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), y_true] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs.astype(np.float32), y_true
