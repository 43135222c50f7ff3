"""What pages show of an imported dataset besides its images: each class's images in
a run's splits, and seeded sample picks per class (the unlabeled images' predictions
CSV is `models.evaluate.predictions_csv`). Pure functions of arrays; nothing here reads
the dataset's files."""

from __future__ import annotations

import numpy as np

from cnn_core.data.splits import class_counts, split_indices
from cnn_core.schema.config import validation_size


def split_class_counts(
    labels: np.ndarray, test_labels: np.ndarray, n_classes: int, validation: float, seed: int
) -> dict[str, np.ndarray]:
    """Images per class in a run's train, validation and test splits.

    Args:
        labels: int (n,) labels of the training images (the holdout already removed).
        test_labels: int (m,) labels of the test images.
        validation: the validation fraction (< 1) or count a run holds out.
        seed: the run's seed (a stratified split moves at most one image per class).

    Returns:
        {"train": int (n_classes,), "validation": ..., "test": ...}.
    """
    train_idx, val_idx = split_indices(labels, validation_size(validation, len(labels)), seed)
    return {
        "train": class_counts(labels[train_idx], n_classes),
        "validation": class_counts(labels[val_idx], n_classes),
        "test": class_counts(test_labels, n_classes),
    }


def class_samples(
    labels: np.ndarray, n_classes: int, per_class: int, seed: int = 0
) -> list[np.ndarray]:
    """Up to `per_class` seeded picks of indices for each class (int64 arrays)."""
    rng = np.random.default_rng(seed)
    picks = []
    for cls in range(n_classes):
        members = np.flatnonzero(labels == cls)
        picks.append(np.sort(rng.permutation(members)[:per_class]).astype(np.int64))
    return picks
