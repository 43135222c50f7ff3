"""The evaluation functions against brute-force loops on random predictions."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from cnn_core.models.evaluate import (
    cell_indices,
    confusion_matrix,
    first_errors,
    most_confident_errors,
    most_confused_cell,
    prediction_caption,
    predictions_csv,
    row_normalise,
    summarize,
)
from cnn_core.schema.records import Evaluation
from scripts.synthetic_data import random_predictions

N_CLASSES = 4
NAMES = ["cat", "dog, big", 'say "hi"', "owl"]  # a comma and quotes survive the CSV


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray]:
    """probs float32 (300, 4) that are right about 60% of the time, and y_true (300,)."""
    return random_predictions(N_CLASSES)


def test_confusion_matrix_counts_every_test_image_once(predictions) -> None:
    probs, y_true = predictions
    record = summarize(probs, y_true, NAMES)
    matrix = np.array(record.confusion_matrix)
    assert matrix.sum() == len(y_true) == record.n
    y_pred = probs.argmax(axis=1)
    expected = np.zeros((N_CLASSES, N_CLASSES), int)
    for t, p in zip(y_true, y_pred, strict=True):  # brute force, one image at a time
        expected[t, p] += 1
    np.testing.assert_array_equal(matrix, expected)
    assert record.correct == np.trace(matrix)
    assert Evaluation.from_dict(record.to_dict()) == record  # what the run store keeps


def test_recall_is_the_diagonal_over_row_sums(predictions) -> None:
    probs, y_true = predictions
    record = summarize(probs, y_true, NAMES)
    matrix = np.array(record.confusion_matrix)
    recall = np.diag(matrix) / matrix.sum(axis=1)
    np.testing.assert_allclose(record.per_class.recall, recall)
    np.testing.assert_allclose(np.diag(row_normalise(matrix)), recall)
    np.testing.assert_allclose(row_normalise(matrix).sum(axis=1), 1.0)


def test_row_normalise_leaves_an_empty_class_at_zero() -> None:
    matrix = np.array([[3, 1], [0, 0]])
    np.testing.assert_array_equal(row_normalise(matrix), [[0.75, 0.25], [0.0, 0.0]])


def test_cell_gallery_holds_exactly_that_cell_sorted_by_confidence(predictions) -> None:
    probs, y_true = predictions
    y_pred = probs.argmax(axis=1)
    for t in range(N_CLASSES):
        for p in range(N_CLASSES):
            got = cell_indices(y_true, y_pred, t, p, probs)
            expected = [i for i in range(len(y_true)) if y_true[i] == t and y_pred[i] == p]
            assert sorted(got.tolist()) == expected
            confidence = probs[got, p]
            assert np.all(np.diff(confidence) <= 0), "not sorted, most confident first"


def test_most_confident_errors_are_errors_sorted_by_confidence(predictions) -> None:
    probs, y_true = predictions
    y_pred = probs.argmax(axis=1)
    worst = most_confident_errors(y_true, probs, 10)
    assert len(worst) == 10
    assert np.all(y_pred[worst] != y_true[worst])
    confidence = probs[worst].max(axis=1)
    assert np.all(np.diff(confidence) <= 0)
    every_error = [i for i in range(len(y_true)) if y_pred[i] != y_true[i]]
    assert confidence[0] == max(probs[i].max() for i in every_error)
    assert len(most_confident_errors(y_true, probs, 10_000)) == len(every_error)
    assert first_errors(y_true, y_pred, 5).tolist() == every_error[:5]


def test_no_errors_means_empty_lists_and_a_diagonal_default() -> None:
    probs = np.eye(3, dtype=np.float32)
    y_true = np.arange(3)
    assert most_confident_errors(y_true, probs, 5).size == 0
    assert most_confused_cell(confusion_matrix(y_true, probs.argmax(1), 3)) == (0, 0)
    assert most_confused_cell(np.array([[5, 1, 0], [0, 5, 4], [2, 0, 5]])) == (1, 2)


def test_csv_has_every_class_and_one_row_per_image(predictions) -> None:
    probs, y_true = predictions
    text = predictions_csv(probs, y_true, NAMES)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["index", "true_class", "predicted_class", *NAMES]
    assert len(rows) == len(y_true) + 1
    body = rows[1:]
    assert [int(r[0]) for r in body] == list(range(len(y_true)))
    assert [r[1] for r in body] == [NAMES[y] for y in y_true]
    assert [r[2] for r in body] == [NAMES[y] for y in probs.argmax(axis=1)]
    parsed = np.array([[float(v) for v in r[3:]] for r in body])
    np.testing.assert_allclose(parsed, probs, atol=1e-6)


def test_csv_of_unlabeled_files_names_them_and_adds_extra_columns() -> None:
    files = ["a.jpg", "sub/b, c.png", "ü.jpg"]
    probs = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]], dtype=np.float32)
    unusual = [False, True, False]
    text = predictions_csv(
        probs, None, ["cat", "dog"], ids=files, id_column="file", extra={"unusual": unusual}
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["file", "predicted_class", "unusual", "cat", "dog"]
    assert [r[0] for r in rows[1:]] == files
    assert [r[1] for r in rows[1:]] == ["dog", "cat", "cat"]
    assert [r[2] for r in rows[1:]] == [str(u) for u in unusual]
    np.testing.assert_allclose([[float(v) for v in r[3:]] for r in rows[1:]], probs, atol=1e-6)
    with pytest.raises(ValueError, match="ids"):
        predictions_csv(probs, None, ["cat", "dog"], ids=files[:2])
    with pytest.raises(ValueError, match="unusual"):
        predictions_csv(probs, None, ["cat", "dog"], extra={"unusual": unusual[:1]})


def test_caption_reads_like_a_sentence() -> None:
    names = ["Coat", "Shirt"]
    assert prediction_caption(names, 0, 1, 0.871) == "true: Coat, predicted: Shirt (87%)"
