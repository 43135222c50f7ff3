"""An imported dataset's manifest (``dataset.json``) as typed records.

The manifest says what the dataset's pixel files hold: its classes, the file name
and label of every stored image row per split, the test rows held out of training,
the storage options and the import report. It is parsed and checked once, here,
into a frozen `Manifest`; nothing else reads or writes the JSON. The stored format
(`MANIFEST_FORMAT`) is unchanged from the first version, so datasets imported
before keep working.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnn_core.base.errors import UserError
from cnn_core.data.user.options import ImageOptions
from cnn_core.data.user.places import dataset_folder, user_root

MANIFEST = "dataset.json"  # file name in a dataset's folder
MANIFEST_FORMAT = 1
SPLITS = ("train", "test", "unlabeled")  # pixel files are `<split>.u8`


@dataclass(frozen=True)
class SplitFiles:
    """The stored images of one split: file names and labels in pixel-file row order."""

    names: tuple[str, ...]  # relative to the imported folder
    labels: tuple[int, ...]  # class index; -1 for unlabeled images

    @classmethod
    def from_json(cls, data: dict[str, Any], n_classes: int) -> SplitFiles:
        names = tuple(str(name) for name in data["names"])
        labels = tuple(int(label) for label in data["labels"])
        if len(names) != len(labels):
            raise ValueError(f"{len(names)} file names for {len(labels)} labels")
        if any(not -1 <= label < n_classes for label in labels):
            raise ValueError(f"a label outside -1 to {n_classes - 1}")
        return cls(names, labels)


@dataclass(frozen=True)
class SizeSummary:
    """The source images' sizes and kinds, before resizing."""

    width: tuple[int, int, int]  # px: min, median, max
    height: tuple[int, int, int]
    distinct: int  # distinct (width, height) pairs
    square: int  # images as wide as high
    formats: dict[str, int]  # file format ("PNG", "JPEG", ...) -> images
    converted_modes: dict[str, int]  # source colour modes other than L and RGB -> images

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SizeSummary:
        return cls(
            width=_triple(data["width"]),
            height=_triple(data["height"]),
            distinct=int(data["distinct"]),
            square=int(data["square"]),
            formats={str(k): int(v) for k, v in data["formats"].items()},
            converted_modes={str(k): int(v) for k, v in data["converted_modes"].items()},
        )


@dataclass(frozen=True)
class ImportReport:
    """What the import found: training images per class, the files it left out, sizes."""

    train_counts: tuple[int, ...]  # per class, before the test share was held out
    skipped: tuple[tuple[str, str], ...]  # (file name, reason)
    sizes: SizeSummary

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportReport:
        return cls(
            train_counts=tuple(int(n) for n in data["train_counts"]),
            skipped=tuple((str(name), str(reason)) for name, reason in data["skipped"]),
            sizes=SizeSummary.from_json(data["sizes"]),
        )


@dataclass(frozen=True)
class Manifest:
    """Everything stored about one imported dataset besides its pixels."""

    key: str  # "my-<slug>"
    name: str  # as the user typed it (NFC)
    options: ImageOptions
    classes: tuple[str, ...]  # labels as stored (folder names), in class-index order
    train: SplitFiles
    test: SplitFiles | None  # a labelled test/ folder; None: `holdout` is the test set
    unlabeled: SplitFiles | None  # a test/ folder of images without class folders
    holdout: tuple[int, ...]  # rows of `train` held out once as the test set (sorted)
    report: ImportReport
    source: str  # where the images came from ("zip upload x.zip", a server path)
    created: float  # Unix time of the import

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.options.shape

    @property
    def n_train(self) -> int:
        """Training images a run may use (the held-out test rows left out)."""
        return len(self.train.names) - len(self.holdout)

    @property
    def n_test(self) -> int:
        return len(self.test.names) if self.test is not None else len(self.holdout)

    @property
    def n_unlabeled(self) -> int:
        return len(self.unlabeled.names) if self.unlabeled is not None else 0

    @property
    def held_out(self) -> bool:
        """Whether the test set was held out of train/ (there was no labelled test/)."""
        return bool(self.holdout)

    def to_json(self) -> dict[str, Any]:
        """The stored form (`from_json` reads it back)."""
        splits = {
            split: {"names": list(files.names), "labels": list(files.labels)}
            for split, files in (("train", self.train), ("test", self.test))
            if files is not None
        }
        if self.unlabeled is not None:
            splits["unlabeled"] = {
                "names": list(self.unlabeled.names),
                "labels": list(self.unlabeled.labels),
            }
        return {
            "format": MANIFEST_FORMAT,
            "name": self.name,
            "options": asdict(self.options),
            "classes": list(self.classes),
            "splits": splits,
            "holdout": list(self.holdout),
            "report": asdict(self.report),
            "key": self.key,
            "source": self.source,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """The manifest in `data`; KeyError, TypeError or ValueError when malformed."""
        classes = tuple(str(label) for label in data["classes"])
        splits = data["splits"]
        files = {
            split: SplitFiles.from_json(splits[split], len(classes))
            for split in SPLITS
            if split in splits
        }
        holdout = tuple(int(row) for row in data["holdout"])
        if any(not 0 <= row < len(files["train"].names) for row in holdout):
            raise ValueError("a held-out row outside the training images")
        options = ImageOptions(**data["options"])
        options.check()
        return cls(
            key=str(data["key"]),
            name=str(data["name"]),
            options=options,
            classes=classes,
            train=files["train"],
            test=files.get("test"),
            unlabeled=files.get("unlabeled"),
            holdout=holdout,
            report=ImportReport.from_json(data["report"]),
            source=str(data.get("source", "")),
            created=float(data.get("created", 0.0)),
        )


def manifest_path(key: str) -> Path:
    """Where dataset `key`'s manifest is (UserError for a malformed key)."""
    return dataset_folder(key) / MANIFEST


def read_manifest(key: str) -> Manifest:
    """An imported dataset's manifest.

    Raises:
        UserError: a malformed key; the dataset is not in this workspace; its
            manifest is unreadable, of another format, or damaged.
    """
    path = manifest_path(key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UserError(f"the dataset {key!r} is not in {user_root()}") from error
    except (OSError, ValueError) as error:
        raise UserError(f"the dataset {key!r} is unreadable ({error})") from error
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise UserError(f"the dataset {key!r} was saved in a format this version cannot read")
    try:  # the folder names the dataset, whatever key was stored (a folder renamed by hand)
        return Manifest.from_json({**data, "key": key})
    except (KeyError, TypeError, ValueError, AttributeError, UserError) as error:
        raise UserError(f"the dataset {key!r} has a damaged manifest ({error})") from error


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write `manifest` into a dataset folder that is still being built."""
    text = json.dumps(manifest.to_json(), ensure_ascii=False)
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def _triple(values: Any) -> tuple[int, int, int]:
    low, middle, high = (int(v) for v in values)
    return (low, middle, high)
