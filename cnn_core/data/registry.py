"""The one dataset lookup: every dataset key, built-in or imported, is answered here.

Pages, the store, training and insight read datasets only through these functions
(`dataset_info`, `find_dataset`, `dataset_title`, `all_datasets`, `load_dataset`,
`find_local`); tests/test_architecture.py keeps it that way. Built-in datasets are
`cnn_core.data.builtin`; imported image folders are the package `cnn_core.data.user`.
"""

from __future__ import annotations

from pathlib import Path

from cnn_core.base.errors import UserError
from cnn_core.data import builtin
from cnn_core.data.builtin import builtin_keys, keras_cache_dir, missing_message, search_roots
from cnn_core.data.info import Dataset, DatasetInfo, DatasetMissing
from cnn_core.data.splits import class_counts, split_indices, stratified_order
from cnn_core.data.user import store as user_store
from cnn_core.data.user.manifest import manifest_path
from cnn_core.data.user.names import KEY_PREFIX, is_user_key

__all__ = [  # the data types and splits, re-exported for callers of the one lookup
    "Dataset",
    "DatasetInfo",
    "DatasetMissing",
    "builtin_keys",
    "class_counts",
    "keras_cache_dir",
    "missing_message",
    "search_roots",
    "split_indices",
    "stratified_order",
]


def is_builtin(key: str) -> bool:
    return key in builtin.BUILTIN


def all_datasets() -> dict[str, DatasetInfo]:
    """The built-in datasets, then the user's imported ones."""
    return {**builtin.BUILTIN, **user_store.list_user_datasets()}


def dataset_info(key: str) -> DatasetInfo:
    """The registry entry for any dataset key, built-in or imported.

    Raises:
        UserError: an unknown key, or an imported dataset that is not on this
            server (deleted, another workspace's) or is unreadable.
    """
    if is_user_key(key):
        return user_store.user_dataset_info(key)
    if key not in builtin.BUILTIN:
        raise UserError(f"unknown dataset {key!r}; choose one of {', '.join(builtin.BUILTIN)}")
    return builtin.BUILTIN[key]


def find_dataset(key: str | None) -> DatasetInfo | None:
    """`dataset_info(key)`, or None when the dataset is not known here."""
    if not key:
        return None
    try:
        return dataset_info(key)
    except (UserError, KeyError, TypeError, ValueError):
        return None


def dataset_title(key: str | None) -> str:
    """A dataset's title for any key; never raises.

    "MNIST handwritten digits", "My images: shoes"; an imported dataset that is not
    here reads "My images: shoes (not on this server)", an unknown key as itself.
    """
    info = find_dataset(key)
    if info is not None:
        return info.title
    if not key:
        return "?"
    if is_user_key(key):
        return f"My images: {key[len(KEY_PREFIX) :]} (not on this server)"
    return key


def find_local(info: DatasetInfo) -> Path | None:
    """Where the dataset's local copy is: an imported dataset's manifest, or the first
    folder or `.npz` file holding a complete copy of a built-in one; None when absent."""
    if is_user_key(info.key):
        path = manifest_path(info.key)
        return path if path.is_file() else None
    return builtin.find_local(info)


def load_dataset(key: str, download: bool = False) -> Dataset:
    """Load any dataset: an imported one from its pixel store, a built-in one from the
    first local copy, or downloaded through Keras.

    Args:
        key: any dataset key (`dataset_info`).
        download: when no local copy of a built-in dataset exists, call Keras' loader
            (needs network).

    Returns:
        The full train and test sets.

    Raises:
        DatasetMissing: no local copy, and `download` is off or the download failed;
            the message says which files to put where.
        UserError: an unknown key, or a local copy that is unreadable.
    """
    if is_user_key(key):
        return user_store.load_user_dataset(key)
    return builtin.load_builtin(dataset_info(key), download)
