"""Figures and number strings for the Concepts section of "Inside the CNN".

Pure functions of numpy arrays; nothing here reads files or imports Keras.
Panels are drawn the way ``inspect_charts`` draws images: no ticks, equal
aspect, row 0 at the top.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_core.errors import UserError

DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}
MARK_COLOUR = "#ff7f0e"
NO_TICKS = {"showticklabels": False, "ticks": "", "showgrid": False, "zeroline": False}


def _panel(array: np.ndarray, low: float, high: float) -> go.Heatmap:
    """One heatmap: grey (black = low) for non-negative data, red/blue about 0 otherwise."""
    hover = "row %{y}, col %{x}<br>%{z:.3f}<extra></extra>"
    if low >= 0:
        return go.Heatmap(
            z=array, colorscale="gray", zmin=low, zmax=high, showscale=False, hovertemplate=hover
        )
    bound = max(abs(low), abs(high)) or 1.0
    return go.Heatmap(
        z=array, colorscale=DIVERGING, zmin=-bound, zmax=bound, showscale=False, hovertemplate=hover
    )


def panels_figure(
    panels: Sequence[tuple[str, np.ndarray]],
    title: str = "",
    shared_scale: bool = False,
    height: int = 300,
) -> go.Figure:
    """2-D arrays side by side, each panel as wide as its array (a pooled map looks smaller).

    Args:
        panels: (title, array) pairs; arrays are (H, W) in any range.
        title: figure title.
        shared_scale: one colour range for every panel, so brightness compares
            across panels (dropout's scaled-up survivors look brighter);
            otherwise each panel uses its own range.
        height: figure height in pixels.

    Returns:
        One heatmap per panel; grey when an array is never negative, red/blue
        centred on 0 otherwise. Hover shows row, column and value.

    Raises:
        UserError: for no panels, or an array that is not a non-empty 2-D array.
    """
    if not panels:
        raise UserError("panels_figure needs at least one (title, array) panel.")
    arrays = []
    for name, array in panels:
        array = np.asarray(array, dtype=np.float32)
        if array.ndim != 2 or array.size == 0:
            raise UserError(
                f"panel {name!r} must be a non-empty 2-D array. Received: {array.shape}"
            )
        arrays.append(array)
    widths = np.array([a.shape[1] for a in arrays], dtype=float)
    fig = make_subplots(
        1,
        len(arrays),
        column_widths=list(widths / widths.sum()),
        subplot_titles=[
            f"{name} ({a.shape[0]}x{a.shape[1]})"
            for (name, _), a in zip(panels, arrays, strict=True)
        ],
        horizontal_spacing=0.05,
    )
    overall = (min(float(a.min()) for a in arrays), max(float(a.max()) for a in arrays))
    for column, array in enumerate(arrays, start=1):
        low, high = overall if shared_scale else (float(array.min()), float(array.max()))
        fig.add_trace(_panel(array, low, high), 1, column)
    fig.update_xaxes(**NO_TICKS, constrain="domain")
    fig.update_yaxes(**NO_TICKS, autorange="reversed")
    for axis in fig.select_yaxes():
        axis.update(scaleanchor=axis.anchor or "x", scaleratio=1)  # square pixels
    fig.update_annotations(font_size=12)  # the panel titles
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        margin=MARGIN if title else {**MARGIN, "t": 30},
        height=height,
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def mark_cells(
    fig: go.Figure, column: int, row: int, col: int, height: int = 1, width: int = 1
) -> go.Figure:
    """Outlines cells [row, row + height) x [col, col + width) of panel ``column`` (1-based).

    Works on figures from ``panels_figure`` and ``inspect_charts.kernel_demo_figure``
    (one row of panels); returns ``fig`` for chaining.
    """
    suffix = "" if column == 1 else str(column)
    fig.add_shape(
        type="rect",
        xref=f"x{suffix}",
        yref=f"y{suffix}",
        x0=col - 0.5,
        x1=col + width - 0.5,
        y0=row - 0.5,
        y1=row + height - 0.5,
        line={"color": MARK_COLOUR, "width": 2},
    )
    return fig


def dot_product_text(window: np.ndarray, kernel: np.ndarray) -> str:
    """The sum of products of a window and a kernel, written out term by term.

    Args:
        window: (kh, kw) input values under the kernel.
        kernel: (kh, kw) weights.

    Returns:
        "0.12×1 + 0.50×(-1) + ... = -0.38": window values with 2 decimals,
        weights with 3 significant digits, the sum with 3 decimals.

    Raises:
        UserError: when the two shapes differ.
    """
    window = np.asarray(window, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if window.shape != kernel.shape or window.size == 0:
        raise UserError(f"window {window.shape} and kernel {kernel.shape} must have one shape.")

    def weight(value: float) -> str:
        text = f"{value:.3g}"
        return f"({text})" if value < 0 else text

    terms = [
        f"{x:.2f}×{weight(float(w))}" for x, w in zip(window.ravel(), kernel.ravel(), strict=True)
    ]
    return f"{' + '.join(terms)} = {float((window * kernel).sum()):.3f}"
