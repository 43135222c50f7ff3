"""What a dataset is: its description (`DatasetInfo`) and its loaded arrays (`Dataset`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn_core.base.errors import UserError


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: its classes, image shape and where its files live."""

    key: str
    title: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]  # (h, w, c)
    folders: tuple[str, ...]  # folder names tried under each search root
    n_train: int
    n_test: int

    def to_record(self) -> dict[str, Any]:
        """What a run keeps of its dataset (`config.json`'s "dataset"): enough to label
        the run and check its model when the dataset is not on this server."""
        return {
            "key": self.key,
            "title": self.title,
            "class_names": list(self.class_names),
            "image_shape": list(self.image_shape),
            "n_train": self.n_train,
            "n_test": self.n_test,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DatasetInfo:
        """The inverse of `to_record`; KeyError, TypeError or ValueError when malformed."""
        shape = tuple(int(v) for v in record["image_shape"])
        if len(shape) != 3:
            raise ValueError(f"image_shape {shape} is not (height, width, channels)")
        return cls(
            key=str(record["key"]),
            title=str(record["title"]),
            class_names=tuple(str(name) for name in record["class_names"]),
            image_shape=shape,  # type: ignore[arg-type]
            folders=(),
            n_train=int(record["n_train"]),
            n_test=int(record["n_test"]),
        )


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 (n, h, w, c) in [0, 255] and labels as int64 (n,)."""

    info: DatasetInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where the files were found, for the UI


class DatasetMissing(UserError):
    """No local copy was found (and downloading was not asked for, or failed)."""
