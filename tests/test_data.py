"""Dataset lookup, the on-disk readers, and the seeded stratified split."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.data.builtin import read_idx
from cnn_core.data.registry import (
    DatasetMissing,
    class_counts,
    dataset_info,
    find_local,
    load_dataset,
    split_indices,
    stratified_order,
)
from scripts.synthetic_data import synthetic_images, write_idx, write_mnist_like


def test_reads_generated_idx_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist_like(tmp_path / "mnist", n_train=120, n_test=30, seed=5)
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path))
    data = load_dataset("mnist")
    expected, labels = synthetic_images(120, seed=5)
    assert data.x_train.shape == (120, 28, 28, 1) and data.x_train.dtype == np.uint8
    np.testing.assert_array_equal(data.x_train, expected)
    np.testing.assert_array_equal(data.y_train, labels)
    assert data.x_test.shape == (30, 28, 28, 1)
    assert data.source == str(tmp_path / "mnist")


def test_reads_keras_mnist_npz_from_keras_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "empty"))
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    x, y = synthetic_images(50, seed=9)
    np.savez(
        cache / "mnist.npz", x_train=x[..., 0], y_train=y, x_test=x[:10, ..., 0], y_test=y[:10]
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    data = load_dataset("mnist")
    np.testing.assert_array_equal(data.x_train[..., 0], x[..., 0])
    assert data.source.endswith("mnist.npz")


def test_cnn_data_dir_wins_over_keras_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_mnist_like(tmp_path / "first" / "fashion-mnist", n_train=20, n_test=10)
    write_mnist_like(tmp_path / "kh" / "datasets" / "fashion-mnist", n_train=40, n_test=10)
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "first"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert len(load_dataset("fashion_mnist").y_train) == 20
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "nothing"))
    assert len(load_dataset("fashion_mnist").y_train) == 40


def test_reads_cifar_batches() -> None:
    data = load_dataset("cifar10")  # the synthetic CIFAR folder from conftest
    assert data.x_train.shape == (200, 32, 32, 3)
    assert data.x_test.shape == (50, 32, 32, 3)
    images, labels = synthetic_images(40, size=32, channels=3, seed=4)  # data_batch_1
    np.testing.assert_array_equal(data.x_train[:40], images)
    np.testing.assert_array_equal(data.y_train[:40], labels)


def test_missing_dataset_says_which_files_go_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "nowhere"))
    if find_local(dataset_info("mnist")) is not None:
        pytest.skip("this machine has MNIST installed system-wide")
    with pytest.raises(DatasetMissing) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "nowhere" / "mnist") in message


def test_corrupt_idx_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_mnist_like(tmp_path / "mnist", n_train=20, n_test=10)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(b"this is not an idx file")
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path))
    with pytest.raises(UserError, match="unreadable"):
        load_dataset("mnist")


def test_idx_with_wrong_length_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((4, 3, 3), np.uint8))
    with gzip.open(path) as handle:
        raw = handle.read()
    with gzip.open(path, "wb") as handle:
        handle.write(raw[:-5])
    with pytest.raises(ValueError, match="header says"):
        read_idx(path)


def test_unknown_dataset_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("imagenet")


def test_split_of_class_sorted_data_gives_every_class_to_both_splits() -> None:
    labels = np.repeat(np.arange(10), 500)  # stored sorted by class, like the MNIST sample
    train_idx, val_idx = split_indices(labels, n_val=500, seed=3)
    assert len(set(train_idx) & set(val_idx)) == 0
    assert len(train_idx) + len(val_idx) == 5000
    val_counts = class_counts(labels[val_idx], 10)
    assert val_counts.min() >= 45 and val_counts.max() <= 55  # about 50 each
    assert class_counts(labels[train_idx], 10).min() >= 445


def test_split_is_seeded_and_subset_is_stratified() -> None:
    labels = np.repeat(np.arange(10), 100)
    a = split_indices(labels, 50, seed=1, subset=300)
    b = split_indices(labels, 50, seed=1, subset=300)
    c = split_indices(labels, 50, seed=2, subset=300)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(np.sort(a[1]), np.sort(c[1]))
    assert len(a[0]) == 250 and len(a[1]) == 50
    assert class_counts(labels[np.concatenate(a)], 10).tolist() == [30] * 10


def test_stratified_order_is_a_permutation() -> None:
    labels = np.array([0] * 7 + [1] * 3 + [2] * 11)
    order = stratified_order(labels, seed=0)
    assert sorted(order.tolist()) == list(range(len(labels)))


def test_every_dataset_key_has_a_title_and_missing_ones_say_so() -> None:
    from cnn_core.data.registry import builtin_keys, dataset_title, find_dataset

    assert [dataset_title(key) for key in builtin_keys()] == [
        dataset_info(key).title for key in builtin_keys()
    ]
    assert find_dataset("my-gone") is None and find_dataset("nonsense") is None
    assert dataset_title("my-gone") == "My images: gone (not on this server)"
    assert dataset_title("nonsense") == "nonsense"
    with pytest.raises(UserError, match="not in"):
        dataset_info("my-gone")
