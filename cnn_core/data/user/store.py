"""The saved datasets of the current workspace: listed, described, loaded, deleted.

Each is a folder `<user_root>/<slug>/` holding a manifest and one pixel file per
split (`train.u8`, `test.u8`, `unlabeled.u8`). Runs trained on a dataset keep their
own description of it (`DatasetInfo.to_record` in their config), so deleting a
dataset never breaks a run; only what needs its images says it is gone.
"""

from __future__ import annotations

import secrets
import shutil

import numpy as np

from cnn_core.base.errors import UserError
from cnn_core.data.info import Dataset, DatasetInfo
from cnn_core.data.user.manifest import MANIFEST, Manifest, read_manifest
from cnn_core.data.user.names import KEY_PREFIX, display_label, display_labels, is_user_key
from cnn_core.data.user.pixels import PixelStore
from cnn_core.data.user.places import dataset_folder, user_root

DELETING = ".deleting-"  # a folder being removed: hidden (dot name), so never listed


def pads_images(key: str | None) -> bool:
    """Whether dataset `key` was stored with "keep aspect, pad" (uploads then are too)."""
    if key is None or not is_user_key(key):
        return False
    try:
        return read_manifest(key).options.fit == "pad"
    except UserError:
        return False


def validation_share(key: str) -> float | None:
    """The validation share chosen when `key` was imported: the Train and Data pages'
    validation fraction starts at it for this dataset. None for a built-in dataset
    or a manifest that cannot be read."""
    if not is_user_key(key):
        return None
    try:
        return float(read_manifest(key).options.validation)
    except UserError:
        return None


def user_dataset_info(key: str, manifest: Manifest | None = None) -> DatasetInfo:
    """The registry entry of an imported dataset (UserError when it is not here)."""
    manifest = manifest or read_manifest(key)
    return DatasetInfo(
        key=key,
        title=f"My images: {display_label(manifest.name, 48)}",
        class_names=display_labels(manifest.classes),
        image_shape=manifest.image_shape,
        folders=(),
        n_train=manifest.n_train,
        n_test=manifest.n_test,
    )


def list_user_datasets() -> dict[str, DatasetInfo]:
    """Every readable imported dataset, by key, sorted by name (broken ones left out)."""
    found: dict[str, DatasetInfo] = {}
    root = user_root()
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        key = KEY_PREFIX + folder.name
        try:
            found[key] = user_dataset_info(key)
        except UserError:
            continue
    return found


def load_user_dataset(key: str) -> Dataset:
    """An imported dataset with its images as `PixelStore`s (nothing read yet)."""
    manifest = read_manifest(key)
    info = user_dataset_info(key, manifest)
    folder = dataset_folder(key)
    labels = np.asarray(manifest.train.labels, dtype=np.int64)
    store = PixelStore(folder / "train.u8", info.image_shape, np.arange(len(labels)))
    holdout = np.asarray(manifest.holdout, dtype=np.int64)
    if manifest.test is None:
        keep = np.setdiff1d(np.arange(len(labels)), holdout)
        x_train, y_train = store.subset(keep), labels[keep]
        x_test, y_test = store.subset(holdout), labels[holdout]
    else:
        y_test = np.asarray(manifest.test.labels, dtype=np.int64)
        x_test = PixelStore(folder / "test.u8", info.image_shape, np.arange(len(y_test)))
        x_train, y_train = store, labels
    return Dataset(info, x_train, y_train, x_test, y_test, source=str(folder))  # type: ignore[arg-type]


def unlabeled_images(key: str) -> tuple[list[str], PixelStore | None]:
    """The unlabeled test folder's file names and images (None when there is none)."""
    manifest = read_manifest(key)
    files = manifest.unlabeled
    if files is None or not files.names:
        return [], None
    names = list(files.names)
    path = dataset_folder(key) / "unlabeled.u8"
    return names, PixelStore(path, manifest.image_shape, np.arange(len(names)))


def delete_dataset(key: str) -> None:
    """Remove an imported dataset of the current workspace: its pixels, manifest and
    uploaded files.

    The folder is first renamed to a hidden name, so the dataset leaves every list at
    once and an interrupted removal never leaves half a dataset behind.

    Raises:
        UserError: a malformed key, or no such dataset in this workspace.
    """
    folder = dataset_folder(key)
    if not folder.is_dir() or folder.is_symlink():
        raise UserError(f"there is no dataset {key!r} in this workspace to delete")
    doomed = folder.with_name(f"{DELETING}{folder.name}-{secrets.token_hex(4)}")
    try:
        folder.rename(doomed)
    except FileNotFoundError as error:  # deleted meanwhile, from another tab
        raise UserError(f"there is no dataset {key!r} in this workspace to delete") from error
    shutil.rmtree(doomed)
