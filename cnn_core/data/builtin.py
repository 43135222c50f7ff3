"""The built-in datasets (MNIST, Fashion-MNIST, CIFAR-10): where the files are, how to read them.

Files are read in the formats Keras' own loaders cache (MNIST's `mnist.npz`,
the IDX `.gz` files of Fashion-MNIST, CIFAR-10's pickled batches), looked up in
order in `$CNN_DATA_DIR`, Keras' cache (`$KERAS_HOME`, default `~/.keras`),
`/usr/share/datasets/` (Debian's dataset-fashion-mnist), and only then
downloaded through Keras. Reading needs numpy only, never TensorFlow.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from cnn_core.base import settings
from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.info import Dataset, DatasetInfo, DatasetMissing

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


# The built-in datasets. Everything outside cnn_core.data reads datasets through the
# registry (`cnn_core.data.registry`: `dataset_info`, `find_dataset`, `dataset_title`,
# `all_datasets`), which also knows the user's imported ones (tests/test_architecture.py
# keeps it that way).
BUILTIN: dict[str, DatasetInfo] = {
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


def builtin_keys() -> tuple[str, ...]:
    """The keys of the built-in datasets, in menu order."""
    return tuple(BUILTIN)


def keras_cache_dir() -> Path:
    """Keras' dataset cache: `$KERAS_HOME/datasets`, default `~/.keras/datasets`."""
    return settings.keras_home() / "datasets"


def search_roots() -> list[Path]:
    """The folders searched, in order."""
    roots = []
    if settings.data_dir() is not None:
        roots.append(settings.data_dir())
    roots += [keras_cache_dir(), Path("/usr/share/datasets")]
    return roots


def find_local(info: DatasetInfo) -> Path | None:
    """The first folder or `.npz` file holding a complete copy of a built-in dataset."""
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


def load_builtin(info: DatasetInfo, download: bool = False) -> Dataset:
    """Load a built-in dataset from its first local copy, or download it through Keras.

    Raises:
        DatasetMissing: no local copy, and `download` is off or the download failed;
            the message says which files to put where.
        UserError: a local copy exists but is unreadable.
    """
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
    hint = "" if settings.data_dir() is not None else " (set CNN_DATA_DIR to choose the folder)"
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
    keras = import_keras()
    loader = getattr(keras.datasets, info.key)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # noqa: BLE001 - any network or archive failure
        raise DatasetMissing(f"{missing_message(info)} Download failed: {error}") from error
    return _make_dataset(info, x_train, y_train, x_test, y_test, source="downloaded by Keras")
