"""cnn_core.charts.evaluation: the clickable confusion matrix."""

from __future__ import annotations

import numpy as np

from cnn_core.charts.evaluation import CLICK_TRACE, confusion_matrix_figure

NAMES = ["cat", "dog, big", 'say "hi"', "owl"]


def test_confusion_figure_names_both_axes_and_outlines_the_choice() -> None:
    matrix = np.random.default_rng(7).integers(0, 30, (4, 4))  # rows: true classes
    fig = confusion_matrix_figure(matrix, NAMES, normalise=False, selected=(2, 1))
    heatmap, clicks = fig.data[0], fig.data[CLICK_TRACE]
    assert list(heatmap.x) == NAMES and list(heatmap.y) == NAMES
    assert sum(int(text) for text in np.ravel(heatmap.text)) == matrix.sum()
    assert len(clicks.x) == len(NAMES) ** 2  # one clickable marker per cell
    assert (clicks.y[4 * 2 + 1], clicks.x[4 * 2 + 1]) == (NAMES[2], NAMES[1])
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "category"
    (shape,) = fig.layout.shapes
    assert (shape.x0, shape.y0) == (0.5, 1.5)
    normalised = confusion_matrix_figure(matrix, NAMES, normalise=True)
    np.testing.assert_allclose(np.array(normalised.data[0].z).sum(axis=1), 1.0)
    assert str(normalised.data[0].text[0][0]).endswith("%")


def test_cell_counts_have_thousands_separators_like_the_per_class_table() -> None:
    matrix = np.array([[1135, 2], [0, 980]])
    fig = confusion_matrix_figure(matrix, ["0", "1"], normalise=False)
    assert np.array(fig.data[0].text).tolist() == [["1,135", "2"], ["0", "980"]]
    assert fig.data[0].colorbar.tickformat == ",d"


def test_class_names_from_folders_are_shown_literally_not_as_markup() -> None:
    from cnn_core.charts.data import class_distribution_figure
    from cnn_core.charts.model_views import probability_bar_figure

    names = ['<a href="javascript:alert(1)">cat</a>', "dog & <b>owl</b>"]
    escaped = [
        '&lt;a href="javascript:alert(1)"&gt;cat&lt;/a&gt;',
        "dog &amp; &lt;b&gt;owl&lt;/b&gt;",
    ]
    matrix = confusion_matrix_figure(np.array([[3, 1], [0, 2]]), names, normalise=False)
    assert list(matrix.data[0].x) == escaped and list(matrix.data[0].y) == escaped
    bars = probability_bar_figure(np.array([0.3, 0.7], np.float32), names)
    assert sorted(bars.data[0].y) == sorted(escaped)
    counts = class_distribution_figure({"train": np.array([5, 6])}, names)
    assert list(counts.data[0].x) == escaped
