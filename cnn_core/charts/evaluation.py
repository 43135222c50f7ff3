"""The confusion matrix of the Evaluate page: a pure function of plain data.

The confusion matrix is a heatmap for the colours and numbers, with one
invisible square marker per cell on top: Plotly selects scatter points on a
click but not heatmap cells, so the markers are what a click selects (each
carries its cell's class names as x and y).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cnn_core.charts.style import HIGHLIGHT, MARGIN, plain_labels
from cnn_core.models.evaluate import row_normalise

CELL_PX = 44  # height of one row of the matrix
FRAME_PX = 150  # title, axis labels and margins around the cells
CLICK_TRACE = 1  # index of the clickable marker trace in the figure


def confusion_matrix_figure(
    matrix: np.ndarray,
    class_names: Sequence[str],
    normalise: bool = False,
    selected: tuple[int, int] | None = None,
    title: str = "",
) -> go.Figure:
    """A clickable confusion matrix: true classes down, predicted classes across.

    Args:
        matrix: int (n_classes, n_classes) counts, rows are true classes.
        class_names: names in label order (unique), used on both axes.
        normalise: colour and label each cell by its share of the row (recall view)
            instead of its count; the hover text always gives both.
        selected: (true, predicted) of a cell to outline, if any.
        title: a title above the matrix (a run's name, say), shown literally.

    Returns:
        A new figure; its trace `CLICK_TRACE` holds one marker per cell whose x and y
        are the predicted and true class names.
    """
    counts = np.asarray(matrix, dtype=np.int64)
    shares = row_normalise(counts)  # float64 (n, n), rows sum to 1
    n = len(class_names)
    names = plain_labels(class_names)
    fig = go.Figure(
        [_cell_heatmap(counts, shares, names, normalise), _click_markers(counts, shares, names)]
    )
    # Fixed ranges: the markers would otherwise pad the axes beyond the cells.
    axis = {"type": "category", "categoryorder": "array", "categoryarray": names}
    axis |= {"showgrid": False, "zeroline": False, "fixedrange": True}
    fig.update_xaxes(title_text="predicted class", range=[-0.5, n - 0.5], **axis)
    fig.update_yaxes(title_text="true class", range=[n - 0.5, -0.5], **axis)  # row 0 on top
    if selected is not None:
        true_class, pred_class = selected
        fig.add_shape(
            type="rect",
            x0=pred_class - 0.5,
            x1=pred_class + 0.5,
            y0=true_class - 0.5,
            y1=true_class + 0.5,
            line={"color": HIGHLIGHT, "width": 3},
        )
    if title:
        fig.update_layout(title={"text": plain_labels([title])[0], "x": 0, "xanchor": "left"})
    fig.update_layout(
        height=FRAME_PX + CELL_PX * n + (30 if title else 0),
        margin={**MARGIN, "t": 60 if title else 30},
        hovermode="closest",
        hoverdistance=-1,  # a click anywhere in a cell picks that cell's marker
        dragmode=False,
        plot_bgcolor="white",
    )
    return fig


def _cell_heatmap(
    counts: np.ndarray, shares: np.ndarray, names: list[str], normalise: bool
) -> go.Heatmap:
    """The colours and numbers: counts, or each cell's share of its row (`normalise`)."""
    # str (n, n): what each cell shows; counts with thousands separators, as the
    # per-class table, the colour bar and the hover text write them ("1,135")
    if normalise:
        labels = np.char.mod("%.0f%%", 100 * shares)
    else:
        labels = np.array([[f"{count:,}" for count in row] for row in counts.tolist()])
    return go.Heatmap(
        z=shares if normalise else counts,
        x=names,
        y=names,
        text=labels.tolist(),
        texttemplate="%{text}",
        colorscale="Blues",
        zmin=0,
        zmax=1 if normalise else None,
        colorbar={"thickness": 12, "tickformat": ".0%" if normalise else ",d"},
        hoverinfo="skip",
    )


def _click_markers(counts: np.ndarray, shares: np.ndarray, names: list[str]) -> go.Scatter:
    """One invisible square marker per cell, what a click selects; the hover text."""
    n = len(names)
    rows, cols = np.divmod(np.arange(n * n), n)  # int (n*n,) cell coordinates, row-major
    return go.Scatter(
        x=[names[c] for c in cols],
        y=[names[r] for r in rows],
        customdata=np.stack([counts.ravel(), 100 * shares.ravel()], axis=1),
        mode="markers",
        marker={"symbol": "square", "size": CELL_PX - 6, "color": "rgba(0,0,0,0)"},
        selected={"marker": {"opacity": 0}},
        unselected={"marker": {"opacity": 0}},
        hovertemplate=(
            "true: %{y}<br>predicted: %{x}<br>%{customdata[0]:,d} images "
            "(%{customdata[1]:.1f}% of the row)<br>click to see them<extra></extra>"
        ),
        showlegend=False,
    )
