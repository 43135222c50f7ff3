"""What pages show of an imported dataset besides its images: each class's images in
a run's splits, seeded sample picks per class, and predictions for its unlabeled
images as CSV. Pure functions of arrays; nothing here reads the dataset's files."""

from __future__ import annotations

import csv
import io

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


def unlabeled_csv(names: list[str], probs: np.ndarray, class_names: list[str]) -> str:
    """Predictions for unlabeled images as CSV: `file`, `predicted_class`, one column per class.

    Args:
        names: file names as given (relative to the dataset's folder), one per row of `probs`.
        probs: float (n, n_classes) probabilities, rows summing to 1.
        class_names: labels in class-index order.
    """
    if len(names) != len(probs):
        raise ValueError(f"{len(names)} names for {len(probs)} rows of probabilities")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "predicted_class", *class_names])
    for name, row in zip(names, np.asarray(probs, dtype=np.float64), strict=True):
        writer.writerow([name, class_names[int(row.argmax())], *(f"{p:.6f}" for p in row)])
    return buffer.getvalue()
