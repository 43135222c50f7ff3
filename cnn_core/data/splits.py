"""The seeded, class-stratified split of a training set (numpy only)."""

from __future__ import annotations

import numpy as np


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
