"""Test-set metrics: computing them (never storing them: that is `cnn_core.store.folder`).

`evaluate_model` runs a model over the test images in batches; everything else
is pure numpy on predicted probabilities: the `Evaluation` record, and the
questions the Evaluate page asks of a run's predictions (which test images fall
in a confusion-matrix cell, which errors were the most confident, the CSV).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from cnn_core.schema.records import Evaluation, PerClass

EVAL_BATCH = 512


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts int64 (n_classes, n_classes): rows are true classes, columns predictions."""
    flat = y_true.astype(np.int64) * n_classes + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_metrics(matrix: np.ndarray) -> PerClass:
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
    return PerClass(
        precision=tuple(precision.tolist()),
        recall=tuple(recall.tolist()),
        f1=tuple(f1.tolist()),
        support=tuple(support.astype(int).tolist()),
    )


def summarize(probs: np.ndarray, y_true: np.ndarray, class_names: Sequence[str]) -> Evaluation:
    """The test metrics of predicted probabilities (the record stored with a run).

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
    return Evaluation(
        n=int(len(y_true)),
        correct=correct,
        accuracy=correct / max(1, len(y_true)),
        loss=float(-np.log(picked).mean()) if len(y_true) else 0.0,
        class_names=tuple(str(name) for name in class_names),
        confusion_matrix=tuple(tuple(row) for row in matrix.tolist()),
        per_class=per_class_metrics(matrix),
    )


def mirror_images(images: np.ndarray) -> np.ndarray:
    """The left-right mirror images of a batch (n, h, w, c)."""
    return images[:, :, ::-1, :]


def predict_in_batches(
    model: Any, images: np.ndarray, batch: int = EVAL_BATCH, mirror: bool = False
) -> np.ndarray:
    """Probabilities float32 (n, n_classes) for raw-pixel images (n, h, w, c), batched.

    With `mirror` (a run with test-time flips, `AugmentSpec.mirror_average`) each row
    is the mean of the probabilities for the image and for its mirror image.
    """
    probs = _batched_probabilities(model, images, batch)
    return average_with_mirror(model, images, probs, batch) if mirror else probs


def average_with_mirror(
    model: Any, images: np.ndarray, probs: np.ndarray, batch: int = EVAL_BATCH
) -> np.ndarray:
    """`probs`, the images' own probabilities, averaged with their mirror images'."""
    return (probs + _batched_probabilities(model, mirror_images(images), batch)) / 2


def _batched_probabilities(model: Any, images: np.ndarray, batch: int) -> np.ndarray:
    out = [
        np.asarray(model.predict_on_batch(images[i : i + batch].astype(np.float32)))
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def evaluate_model(
    model: Any,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    mirror: bool = False,
) -> tuple[Evaluation, np.ndarray]:
    """Run `model` over the test set once.

    Args:
        model: a Keras model taking raw pixels in [0, 255].
        images: uint8 (n, h, w, c) test images.
        labels: int (n,) their classes.
        class_names: names in label order.
        mirror: average each image's probabilities with its mirror image's (a run
            with test-time flips); the evaluation then also records the accuracy on
            single images (`Evaluation.single_accuracy`).

    Returns:
        (evaluation, probs): the metrics and the float32 (n, n_classes)
        probabilities they came from (`RunFolder.save_evaluation` stores both).
    """
    probs = predict_in_batches(model, images)
    if not mirror:
        return summarize(probs, labels, class_names), probs
    single = float((probs.argmax(axis=1) == labels).mean()) if len(labels) else 0.0
    averaged = average_with_mirror(model, images, probs)
    evaluation = replace(summarize(averaged, labels, class_names), single_accuracy=single)
    return evaluation, averaged


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


def predictions_csv(
    probs: np.ndarray,
    y_true: np.ndarray | None,
    class_names: list[str],
    *,
    ids: Sequence[Any] | None = None,
    id_column: str = "index",
    extra: Mapping[str, Sequence[Any]] | None = None,
) -> str:
    """Predictions as CSV, one row per image: the one writer behind every predictions
    download (Evaluate's test set, an unlabeled folder, Predict's uploads), so their
    columns read alike.

    Columns: `id_column` (`ids`, or the row number), `true_class` when `y_true` is
    given, `predicted_class` (class names), the `extra` columns in their order, then
    one column per class name holding its probability (6 decimals).

    Args:
        probs: float (n, n_classes) predicted probabilities.
        y_true: int (n,) true labels, or None for images without one.
        class_names: names in label order.
        ids: what names each row (file names); default 0..n-1.
        id_column: the header of the `ids` column.
        extra: more columns, name -> n values (e.g. Predict's "unusual" flags).

    Returns:
        The CSV text, header first, rows in the order of `probs`.

    Raises:
        ValueError: `ids`, `y_true` or an `extra` column of another length than `probs`.
    """
    n = len(probs)
    ids = range(n) if ids is None else ids
    extra = dict(extra or {})
    lengths = {"ids": len(ids), **{name: len(values) for name, values in extra.items()}}
    if y_true is not None:
        lengths["y_true"] = len(y_true)
    wrong = {name: length for name, length in lengths.items() if length != n}
    if wrong:
        raise ValueError(f"every column needs {n} values, one per row of probs. Received: {wrong}")
    names = np.asarray(class_names, dtype=object)
    predicted = names[np.asarray(probs).argmax(axis=1)] if n else []
    truth = [names[y_true]] if y_true is not None else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [id_column] + (["true_class"] if y_true is not None else []) + ["predicted_class"]
    writer.writerow([*header, *extra, *class_names])
    cells = np.char.mod("%.6f", np.asarray(probs, dtype=np.float64))  # str (n, n_classes)
    columns = [ids, *truth, predicted, *extra.values()]
    for i, row in enumerate(zip(*columns, strict=True)):
        writer.writerow([*row, *cells[i]])
    return buffer.getvalue()
