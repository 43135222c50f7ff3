"""cnn_core.charts.embedding: one trace per true class, crosses for errors, indices kept."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.charts.embedding import WRONG_SYMBOL, class_colour, embedding_figure
from cnn_core.insight.embedding import Embedding


def make_embedding() -> Embedding:
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([1, 0, 1, 0, 1, 2])  # each class's first point is wrong
    coords = np.arange(12, dtype=np.float32).reshape(6, 2)
    indices = np.array([3, 8, 11, 20, 21, 40])
    return Embedding(indices, coords, (0.5, 0.25), y_true, y_pred, features=16)


def test_each_class_is_a_trace_with_its_errors_marked() -> None:
    embedding = make_embedding()
    before = embedding.coords.copy()
    fig = embedding_figure(embedding, ["cat", "<dog>", "bird"])
    names = ["cat (1 wrong)", "&lt;dog&gt; (1 wrong)", "bird (0 wrong)"]
    assert [t.name for t in fig.data] == names
    assert [t.marker.color for t in fig.data] == [class_colour(k) for k in range(3)]
    for label, trace in enumerate(fig.data):
        rows = np.flatnonzero(embedding.y_true == label)
        wrong = embedding.y_pred[rows] != label
        rows = np.concatenate([rows[~wrong], rows[wrong]])  # right ones first, for the legend
        np.testing.assert_array_equal(trace.x, embedding.coords[rows, 0])
        np.testing.assert_array_equal(trace.y, embedding.coords[rows, 1])
        symbols = [s == WRONG_SYMBOL for s in trace.marker.symbol]
        assert symbols == sorted(wrong.tolist()) and trace.marker.symbol[0] == "circle"
        assert [int(c[0]) for c in trace.customdata] == embedding.indices[rows].tolist()
    assert list(fig.data[0].customdata[1]) == ["3", "&lt;dog&gt;"]  # index, predicted name
    assert "50%" in fig.layout.xaxis.title.text and "25%" in fig.layout.yaxis.title.text
    np.testing.assert_array_equal(embedding.coords, before)


def test_labels_outside_the_class_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        embedding_figure(make_embedding(), ["cat", "dog"])
