"""Stored images read on demand: the pixel files of an imported dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.base.errors import UserError


class PixelStore:
    """Images stored as raw uint8 rows in a file, read on demand.

    Behaves like a read-only uint8 array (n, h, w, c) for `len`, `shape` and
    indexing with an int, a slice or an index array; only the rows asked for are
    read (with `os.pread`, through the OS page cache, never mapped into memory).
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, path: Path, image_shape: tuple[int, int, int], rows: np.ndarray) -> None:
        self.path = Path(path)
        self.image_shape = tuple(int(n) for n in image_shape)
        self.rows = np.asarray(rows, dtype=np.int64)  # file row of each image
        self.row_bytes = int(np.prod(self.image_shape))

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), *self.image_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, int | np.integer):
            return self.read(np.asarray([key]))[0]
        if isinstance(key, slice):
            return self.read(np.arange(len(self))[key])
        return self.read(np.asarray(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)

    def subset(self, indices: np.ndarray) -> PixelStore:
        """A store of some of these images, in the order of `indices`."""
        return PixelStore(self.path, self.image_shape, self.rows[np.asarray(indices)])

    def read(self, indices: np.ndarray) -> np.ndarray:
        """uint8 (len(indices), h, w, c) images, in the order asked.

        Raises:
            UserError: the pixel file is gone (the dataset was deleted) or too short.
        """
        rows = self.rows[np.asarray(indices, dtype=np.int64).reshape(-1)]
        out = np.empty((len(rows), *self.image_shape), dtype=np.uint8)
        flat = out.reshape(len(rows), -1)
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError as error:
            raise UserError(f"the images of this dataset are gone ({self.path})") from error
        try:
            for i, row in enumerate(rows.tolist()):
                data = os.pread(fd, self.row_bytes, row * self.row_bytes)
                if len(data) != self.row_bytes:
                    raise UserError(f"the image file {self.path} is shorter than its manifest")
                flat[i] = np.frombuffer(data, dtype=np.uint8)
        finally:
            os.close(fd)
        return out
