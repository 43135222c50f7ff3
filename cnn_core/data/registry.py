"""Datasets: where the files are, how to read them, and the seeded split.

Files are read in the formats Keras' own loaders cache (MNIST's `mnist.npz`,
the IDX `.gz` files of Fashion-MNIST, CIFAR-10's pickled batches), looked up in
order in `$CNN_DATA_DIR`, Keras' cache (`$KERAS_HOME`, default `~/.keras`),
`/usr/share/datasets/` (Debian's dataset-fashion-mnist), and only then
downloaded through Keras. Reading needs numpy only, never TensorFlow.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.base.errors import UserError

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


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


# The built-in datasets. Everything else reads datasets through the registry functions
# below (`dataset_info`, `find_dataset`, `dataset_title`, `all_datasets`), which also
# know the user's imported ones (tests/test_architecture.py keeps it that way).
_BUILTIN: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist",
        "MNIST handwritten digits",
        tuple(str(d) for d in range(10)),
        (28, 28, 1),
        ("mnist",),
        60000,
        10000,
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist",
        "Fashion-MNIST clothing",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")
        + ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        (28, 28, 1),
        ("fashion-mnist", "fashion_mnist"),
        60000,
        10000,
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        "CIFAR-10 small photos",
        ("airplane", "automobile", "bird", "cat", "deer")
        + ("dog", "frog", "horse", "ship", "truck"),
        (32, 32, 3),
        ("cifar-10-batches-py", "cifar10"),
        50000,
        10000,
    ),
}


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


# -- the registry: the one lookup for every dataset key ------------------------------


def builtin_keys() -> tuple[str, ...]:
    """The keys of the built-in datasets, in menu order."""
    return tuple(_BUILTIN)


def is_builtin(key: str) -> bool:
    return key in _BUILTIN


def all_datasets() -> dict[str, DatasetInfo]:
    """The built-in datasets, then the user's imported ones (`cnn_core.data.user_folders`)."""
    from cnn_core.data.user_folders import list_user_datasets  # image_folders imports this module

    return {**_BUILTIN, **list_user_datasets()}


def dataset_info(key: str) -> DatasetInfo:
    """The registry entry for any dataset key, built-in or imported.

    Raises:
        UserError: an unknown key, or an imported dataset that is not on this
            server (deleted, another workspace's) or is unreadable.
    """
    if key.startswith("my-"):
        from cnn_core.data.user_folders import user_dataset_info  # imports this module

        return user_dataset_info(key)
    if key not in _BUILTIN:
        raise UserError(f"unknown dataset {key!r}; choose one of {', '.join(_BUILTIN)}")
    return _BUILTIN[key]


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
    if key.startswith("my-"):
        return f"My images: {key[3:]} (not on this server)"
    return key


def keras_cache_dir() -> Path:
    """Keras' dataset cache: `$KERAS_HOME/datasets`, default `~/.keras/datasets`."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def search_roots() -> list[Path]:
    """The folders searched, in order."""
    roots = []
    if os.environ.get("CNN_DATA_DIR"):
        roots.append(Path(os.environ["CNN_DATA_DIR"]))
    roots += [keras_cache_dir(), Path("/usr/share/datasets")]
    return roots


def find_local(info: DatasetInfo) -> Path | None:
    """The first folder or `.npz` file holding a complete copy of the dataset."""
    if info.key.startswith("my-"):  # an imported dataset: its manifest
        from cnn_core.data.user_folders import MANIFEST, dataset_folder

        path = dataset_folder(info.key) / MANIFEST
        return path if path.is_file() else None
    for root in search_roots():
        if info.key == "mnist" and (root / "mnist.npz").is_file():
            return root / "mnist.npz"
        for folder in info.folders:
            path = root / folder
            if info.key == "cifar10":
                if (path / "test_batch").is_file() and (path / "data_batch_1").is_file():
                    return path
            elif all(_idx_path(path, name) for name in IDX_FILES):
                return path
    return None


def load_dataset(key: str, download: bool = False) -> Dataset:
    """Load a dataset from the first local copy, or download it through Keras.

    Args:
        key: any dataset key (`dataset_info`).
        download: when no local copy exists, call Keras' loader (needs network).

    Returns:
        The full train and test sets.

    Raises:
        DatasetMissing: no local copy, and `download` is off or the download failed;
            the message says which files to put where.
        UserError: a local copy exists but is unreadable.
    """
    if key.startswith("my-"):
        from cnn_core.data.user_folders import load_user_dataset

        return load_user_dataset(key)
    info = dataset_info(key)
    path = find_local(info)
    if path is None:
        if not download:
            raise DatasetMissing(missing_message(info))
        return _download(info)
    try:
        if path.suffix == ".npz":
            arrays = _read_npz(path)
        elif info.key == "cifar10":
            arrays = _read_cifar(path)
        else:
            arrays = _read_idx_folder(path)
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as error:
        raise UserError(f"{info.title}: the files in {path} are unreadable ({error})") from error
    return _make_dataset(info, *arrays, source=str(path))


def missing_message(info: DatasetInfo) -> str:
    """Say which files to download and where to put them."""
    first = search_roots()[0] / info.folders[0]
    if info.key == "cifar10":
        files = "the extracted cifar-10-python.tar.gz (data_batch_1..5, test_batch)"
    else:
        files = ", ".join(f"{name}.gz" for name in IDX_FILES)
    hint = "" if os.environ.get("CNN_DATA_DIR") else " (set CNN_DATA_DIR to choose the folder)"
    return (
        f"{info.title} is not on this machine and was not downloaded. "
        f"Put {files} into {first}{hint}, or download it here when online."
    )


def _idx_path(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) of unsigned bytes into an array.

    Raises:
        ValueError: the header or size does not match the IDX format.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path.name} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise ValueError(f"{path.name} holds {len(raw) - offset} bytes, header says {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _read_idx_folder(folder: Path) -> tuple[np.ndarray, ...]:
    paths = [_idx_path(folder, name) for name in IDX_FILES]
    return tuple(read_idx(p) for p in paths if p is not None)


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    with np.load(path, allow_pickle=False) as data:
        return tuple(data[k] for k in ("x_train", "y_train", "x_test", "y_test"))


def _read_cifar(folder: Path) -> tuple[np.ndarray, ...]:
    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        with open(folder / name, "rb") as handle:
            record = pickle.load(handle, encoding="bytes")
        data = np.asarray(record[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return data.transpose(0, 2, 3, 1), np.asarray(record[b"labels"])

    train = [batch(f"data_batch_{i}") for i in range(1, 6) if (folder / f"data_batch_{i}").exists()]
    x_test, y_test = batch("test_batch")
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test


def _make_dataset(info: DatasetInfo, x_train, y_train, x_test, y_test, source: str) -> Dataset:
    h, w, c = info.image_shape
    x_train = np.asarray(x_train, dtype=np.uint8).reshape(-1, h, w, c)
    x_test = np.asarray(x_test, dtype=np.uint8).reshape(-1, h, w, c)
    y_train = np.asarray(y_train, dtype=np.int64).reshape(-1)
    y_test = np.asarray(y_test, dtype=np.int64).reshape(-1)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise UserError(f"{info.title}: image and label counts differ in {source}")
    n_classes = len(info.class_names)
    for labels in (y_train, y_test):
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise UserError(f"{info.title}: labels outside 0..{n_classes - 1} in {source}")
    return Dataset(info, x_train, y_train, x_test, y_test, source)


def _download(info: DatasetInfo) -> Dataset:
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    loader = getattr(keras.datasets, info.key)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # noqa: BLE001 - any network or archive failure
        raise DatasetMissing(f"{missing_message(info)} Download failed: {error}") from error
    return _make_dataset(info, x_train, y_train, x_test, y_test, source="downloaded by Keras")


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded shuffle of indices in which every class is spread evenly.

    Each class's members are shuffled and spaced proportionally through the
    order, so any prefix holds every class in about its share, even when the
    dataset is stored sorted by class.

    Returns:
        int64 array, a permutation of range(len(labels)).
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(labels))
    keys = np.empty(len(labels), dtype=np.float64)
    for cls in np.unique(labels):
        members = perm[labels[perm] == cls]  # this class, in shuffled order
        ranks = np.arange(len(members)) + rng.random(len(members))
        keys[members] = ranks / len(members)
    return perm[np.argsort(keys[perm], kind="stable")]


def split_indices(
    labels: np.ndarray, n_val: int, seed: int, subset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, class-stratified (train, validation) index arrays.

    Args:
        labels: int array (n,) of the full training set.
        n_val: how many images go to validation.
        seed: the run's seed; the same seed gives the same split.
        subset: use only this many images in all (0 = all), chosen stratified too.

    Returns:
        (train_idx, val_idx), disjoint, train_idx shuffled.
    """
    order = stratified_order(labels, seed)
    if subset:
        order = order[:subset]
    val_idx, train_idx = order[:n_val], order[n_val:]
    rng = np.random.default_rng(seed + 1)
    return rng.permutation(train_idx), val_idx


def class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """How many images of each class: int array (n_classes,)."""
    return np.bincount(labels, minlength=n_classes)
