"""The embedding view: test images as points on the 2-D PCA map of their activations.

A pure function of a ``cnn_core.insight.embedding.Embedding``: one trace per true class
(its colour, its legend entry), right predictions as dots and wrong ones as
crosses drawn over them. Each point carries its test-set index in ``customdata[0]``, which the
page reads back from a click or a box/lasso selection to show the images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cnn_core.charts.compare import RUN_COLOURS
from cnn_core.charts.style import MARGIN, plain_labels
from cnn_core.insight.embedding import Embedding

RIGHT_SYMBOL = "circle"
WRONG_SYMBOL = "x"


def class_colour(label: int) -> str:
    """Class `label`'s colour (Plotly's T10 palette, repeating after ten classes)."""
    return RUN_COLOURS[label % len(RUN_COLOURS)]


def embedding_figure(
    embedding: Embedding, class_names: Sequence[str], title: str = "", height: int = 560
) -> go.Figure:
    """The scatter of `embedding`, coloured by true class, wrong predictions as crosses.

    Args:
        embedding: the points (see ``cnn_core.insight.embedding``).
        class_names: one name per class index.
        title: figure title ("" for none).
        height: figure height in pixels.

    Returns:
        A new figure; trace k is the k-th class present, in class order. Each point's
        customdata is [test index, predicted class name].

    Raises:
        ValueError: when a label is outside `class_names`.
    """
    names = plain_labels(class_names)
    labels = np.concatenate([embedding.y_true, embedding.y_pred])
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(
            f"Class labels must be in [0, {len(names) - 1}]. "
            f"Received: labels from {labels.min()} to {labels.max()}"
        )
    fig = go.Figure()
    for label in np.unique(embedding.y_true):
        fig.add_trace(_class_trace(embedding, int(label), names))
    first, second = embedding.explained
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        margin={**MARGIN, "b": 40},
        height=height,
        legend={"title": {"text": "true class"}, "itemsizing": "constant"},
        dragmode="lasso",
        clickmode="event+select",
    )
    fig.update_xaxes(title=f"principal component 1 ({first:.0%} of the variance)", zeroline=False)
    fig.update_yaxes(title=f"principal component 2 ({second:.0%})", zeroline=False)
    return fig


def _class_trace(embedding: Embedding, label: int, names: list[str]) -> go.Scattergl:
    """The points of true class `label`: right ones as dots, wrong ones as crosses."""
    rows = np.flatnonzero(embedding.y_true == label)
    # right points first: the legend takes the first point's symbol, and the
    # crosses are drawn on top
    rows = rows[np.argsort(embedding.y_pred[rows] != label, kind="stable")]
    wrong = embedding.y_pred[rows] != label
    return go.Scattergl(
        x=embedding.coords[rows, 0],
        y=embedding.coords[rows, 1],
        mode="markers",
        name=f"{names[label]} ({int(wrong.sum())} wrong)",
        marker={
            "color": class_colour(label),
            "symbol": np.where(wrong, WRONG_SYMBOL, RIGHT_SYMBOL),
            "size": np.where(wrong, 9, 6),
            "opacity": 0.8,
            "line": {"width": 0},
        },
        customdata=np.stack(
            [embedding.indices[rows], np.array(names)[embedding.y_pred[rows]]], axis=1
        ),
        hovertemplate=(
            f"test image #%{{customdata[0]}}<br>true: {names[label]}"
            "<br>predicted: %{customdata[1]}<extra></extra>"
        ),
    )
