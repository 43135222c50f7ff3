"""Test-set metrics from predicted probabilities: pure numpy, no TensorFlow.

Also the questions the Evaluate page asks of a run's stored predictions: which
test images fall in a confusion-matrix cell, which errors were the most
confident, and the predictions as CSV.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.errors import UserError

EVALUATION_KEYS = frozenset(
    ("n", "correct", "accuracy", "loss", "class_names", "confusion_matrix", "per_class")
)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts int64 (n_classes, n_classes): rows are true classes, columns predictions."""
    flat = y_true.astype(np.int64) * n_classes + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_metrics(matrix: np.ndarray) -> dict[str, list[float]]:
    """Precision, recall, F1 and support per class from a confusion matrix.

    A class never predicted (or never present) gets 0.0 where the ratio is undefined.
    """
    matrix = matrix.astype(np.float64)
    hits = np.diag(matrix)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(hits), where=denom > 0)
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.astype(int).tolist(),
    }


def summarize(probs: np.ndarray, y_true: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """The evaluation record stored with a run.

    Args:
        probs: float (n, n_classes) predicted probabilities, rows summing to 1.
        y_true: int (n,) true labels.
        class_names: names in label order.
    """
    n_classes = len(class_names)
    y_pred = probs.argmax(axis=1)
    picked = np.clip(probs[np.arange(len(y_true)), y_true], 1e-7, 1.0)
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    correct = int(np.trace(matrix))
    return {
        "n": int(len(y_true)),
        "correct": correct,
        "accuracy": correct / max(1, len(y_true)),
        "loss": float(-np.log(picked).mean()) if len(y_true) else 0.0,
        "class_names": list(class_names),
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class_metrics(matrix),
    }


def format_accuracy(evaluation: dict[str, Any]) -> str:
    """'98.6% (9,861 / 10,000)'."""
    return f"{100 * evaluation['accuracy']:.1f}% ({evaluation['correct']:,} / {evaluation['n']:,})"


def evaluation_complete(record: dict[str, Any] | None) -> bool:
    """Whether a stored evaluation record has every field `summarize` writes."""
    return isinstance(record, dict) and record.keys() >= EVALUATION_KEYS


def load_predictions(
    path: Path, n_classes: int | None = None, n_images: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read a run's `predictions.npz` and check that it is whole.

    Args:
        path: the `predictions.npz` file written by `cnn_core.train.store_evaluation`.
        n_classes: when given, the number of probability columns expected.
        n_images: when given, the number of test images expected.

    Returns:
        (probs, y_true): float32 (n, n_classes) probabilities and int64 (n,) labels.

    Raises:
        UserError: the file is missing, unreadable, or its arrays do not fit together.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            probs, y_true = np.asarray(data["probs"]), np.asarray(data["y_true"])
    except FileNotFoundError as error:
        raise UserError(f"this run has no stored predictions ({path.name} is missing)") from error
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise UserError(f"the predictions file {path} is damaged ({error})") from error
    problem = _predictions_problem(probs, y_true, n_classes)
    if not problem and n_images is not None and len(y_true) != n_images:
        problem = f"{len(y_true)} predictions where the evaluation counted {n_images} images"
    if problem:
        raise UserError(f"the predictions file {path} is damaged: {problem}")
    return probs.astype(np.float32), y_true.astype(np.int64)


def _predictions_problem(probs: np.ndarray, y_true: np.ndarray, n_classes: int | None) -> str:
    """What is wrong with stored predictions, or '' when they are usable."""
    if probs.ndim != 2 or y_true.ndim != 1 or len(probs) != len(y_true):
        return f"probs {probs.shape} and labels {y_true.shape} do not match"
    if n_classes is not None and probs.shape[1] != n_classes:
        return f"{probs.shape[1]} probability columns for {n_classes} classes"
    if not np.issubdtype(probs.dtype, np.floating) or not np.issubdtype(y_true.dtype, np.integer):
        return f"unexpected types {probs.dtype} and {y_true.dtype}"
    if not np.isfinite(probs).all():
        return "probabilities that are not finite numbers"
    if y_true.size and (y_true.min() < 0 or y_true.max() >= probs.shape[1]):
        return f"labels outside 0..{probs.shape[1] - 1}"
    return ""


def row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Each row of a confusion matrix divided by its sum (the recall view).

    Returns:
        float64 array of the same shape; rows of a class with no images stay 0.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def cell_indices(
    y_true: np.ndarray, y_pred: np.ndarray, true_class: int, pred_class: int, probs: np.ndarray
) -> np.ndarray:
    """The test images of one confusion-matrix cell, most confident first.

    Args:
        y_true: int (n,) true labels.
        y_pred: int (n,) predicted labels (`probs.argmax(axis=1)`).
        true_class: the cell's row.
        pred_class: the cell's column.
        probs: float (n, n_classes) predicted probabilities.

    Returns:
        int64 (k,) indices into the test set, sorted by the probability given to
        `pred_class`, highest first (ties keep test-set order).
    """
    members = np.flatnonzero((y_true == true_class) & (y_pred == pred_class))
    order = np.argsort(-probs[members, pred_class], kind="stable")
    return members[order].astype(np.int64)


def most_confident_errors(y_true: np.ndarray, probs: np.ndarray, k: int) -> np.ndarray:
    """The `k` wrong predictions the model was surest of.

    Returns:
        int64 (<= k,) test-set indices whose predicted class is not the true one,
        sorted by the probability of the (wrong) predicted class, highest first.
    """
    y_pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    order = np.argsort(-probs[wrong, y_pred[wrong]], kind="stable")
    return wrong[order][: max(0, k)].astype(np.int64)


def first_errors(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """int64 (<= k,) indices of the first `k` wrong predictions in test-set order."""
    return np.flatnonzero(y_pred != y_true)[: max(0, k)].astype(np.int64)


def most_confused_cell(matrix: np.ndarray) -> tuple[int, int]:
    """(true, predicted) of the off-diagonal cell with the most images.

    Returns (0, 0) when the matrix has no errors (or fewer than two classes).
    """
    errors = np.array(matrix, dtype=np.int64)
    if errors.shape[0] < 2:
        return 0, 0
    np.fill_diagonal(errors, -1)
    true_class, pred_class = np.unravel_index(int(errors.argmax()), errors.shape)
    if errors[true_class, pred_class] <= 0:
        return 0, 0
    return int(true_class), int(pred_class)


def prediction_caption(
    class_names: list[str], true_class: int, pred_class: int, confidence: float
) -> str:
    """'true: Coat, predicted: Shirt (87%)'; `confidence` is in [0, 1]."""
    return (
        f"true: {class_names[true_class]}, predicted: {class_names[pred_class]} "
        f"({100 * confidence:.0f}%)"
    )


def predictions_csv(probs: np.ndarray, y_true: np.ndarray, class_names: list[str]) -> str:
    """The predictions as CSV: one row per test image.

    Columns: `index`, `true_class`, `predicted_class` (class names), then one
    column per class name holding its probability (6 decimals).

    Args:
        probs: float (n, n_classes) predicted probabilities.
        y_true: int (n,) true labels.
        class_names: names in label order.

    Returns:
        The CSV text, header first, rows in test-set order.
    """
    names = np.asarray(class_names, dtype=object)
    y_pred = probs.argmax(axis=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "true_class", "predicted_class", *class_names])
    cells = np.char.mod("%.6f", probs.astype(np.float64))  # str (n, n_classes)
    for i, (true_name, pred_name) in enumerate(zip(names[y_true], names[y_pred], strict=True)):
        writer.writerow([i, true_name, pred_name, *cells[i]])
    return buffer.getvalue()
