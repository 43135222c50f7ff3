"""Test-set metrics from predicted probabilities: pure numpy, no TensorFlow."""

from __future__ import annotations

from typing import Any

import numpy as np


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
