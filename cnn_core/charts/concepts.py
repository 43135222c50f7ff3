"""Figures and number strings for the Concepts tab of "Inside the CNN".

Pure functions of numpy arrays that return new figures; nothing here reads
files or imports Keras. Panels are drawn like every image in the app (see
``style.image_layout``): no ticks, equal aspect, row 0 at the top.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_core.charts.style import (
    COLORBAR,
    HIGHLIGHT,
    MARGIN,
    checked_array,
    diverging_heatmap,
    image_layout,
)

HOVER = "row %{y}, col %{x}<br>%{z:.3f}<extra></extra>"


def _panel(array: np.ndarray, low: float, high: float) -> go.Heatmap:
    """One heatmap: grey (black = low) for non-negative data, red/blue about 0 otherwise."""
    if low >= 0:
        return go.Heatmap(
            z=array, colorscale="gray", zmin=low, zmax=high, showscale=False, hovertemplate=HOVER
        )
    return diverging_heatmap(
        array, bound=max(abs(low), abs(high)), showscale=False, hovertemplate=HOVER
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
        ValueError: for no panels, or an array that is not a non-empty 2-D array.
    """
    if not panels:
        raise ValueError("panels_figure needs at least one (title, array) panel.")
    arrays = [checked_array(array, 2, f"panel {name!r}", "2-D") for name, array in panels]
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
    fig.update_annotations(font_size=12)  # the panel titles
    return image_layout(fig, title, height, margin={**MARGIN, "t": 60 if title else 30})


def kernel_demo_figure(
    image: np.ndarray, kernel: np.ndarray, output: np.ndarray, title: str = ""
) -> go.Figure:
    """Input, kernel and result of a convolution side by side.

    Args:
        image: (H, W) input, any range (grey levels).
        kernel: (kh, kw) weights; its values are printed in the cells.
        output: (H', W') from ``concepts.conv2d`` (or a pooling result).
        title: figure title.

    Returns:
        Three panels: the input in grey, the kernel and the output on a
        diverging scale centred on 0 (grey when the output is never negative).

    Raises:
        ValueError: when an array is not 2-D.
    """
    panels = [
        checked_array(array, 2, name, "2-D")
        for array, name in ((image, "image"), (kernel, "kernel"), (output, "output"))
    ]
    titles = [
        f"{name} {a.shape[0]}x{a.shape[1]}"
        for name, a in zip(("input", "kernel", "output"), panels, strict=True)
    ]
    fig = make_subplots(
        1, 3, column_widths=[0.42, 0.16, 0.42], subplot_titles=titles, horizontal_spacing=0.04
    )
    image, kernel, output = panels
    fig.add_trace(go.Heatmap(z=image, colorscale="gray", showscale=False), 1, 1)
    kernel_trace = diverging_heatmap(
        kernel, texttemplate="%{z:.2g}", textfont_size=12, showscale=False
    )
    fig.add_trace(kernel_trace, 1, 2)
    if output.min() >= 0:
        fig.add_trace(go.Heatmap(z=output, colorscale="gray", showscale=False), 1, 3)
    else:
        fig.add_trace(diverging_heatmap(output, colorbar=COLORBAR), 1, 3)
    fig.update_annotations(font_size=12)  # the subplot titles
    return image_layout(fig, title, height=320, margin={**MARGIN, "t": 70})


def mark_cells(
    fig: go.Figure, column: int, row: int, col: int, height: int = 1, width: int = 1
) -> go.Figure:
    """A copy of ``fig`` with cells [row, row + height) x [col, col + width) outlined.

    Works on figures from ``panels_figure`` and ``kernel_demo_figure`` (one row
    of panels). ``fig`` itself is left as it was.

    Args:
        fig: the figure to copy.
        column: which panel, 1-based from the left.
        row, col: the top-left cell of the outline, 0-based.
        height, width: the outline's size in cells.

    Returns:
        A new figure: ``fig`` plus one rectangle in the highlight colour.
    """
    marked = go.Figure(fig)  # a deep copy
    suffix = "" if column == 1 else str(column)
    marked.add_shape(
        type="rect",
        xref=f"x{suffix}",
        yref=f"y{suffix}",
        x0=col - 0.5,
        x1=col + width - 0.5,
        y0=row - 0.5,
        y1=row + height - 0.5,
        line={"color": HIGHLIGHT, "width": 2},
    )
    return marked


def dot_product_text(window: np.ndarray, kernel: np.ndarray) -> str:
    """The sum of products of a window and a kernel, written out term by term.

    Args:
        window: (kh, kw) input values under the kernel.
        kernel: (kh, kw) weights.

    Returns:
        "0.12×1 + 0.50×(-1) + ... = -0.38": window values with 2 decimals,
        weights with 3 significant digits, the sum with 3 decimals.

    Raises:
        ValueError: when the two shapes differ.
    """
    window = np.asarray(window, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if window.shape != kernel.shape or window.size == 0:
        raise ValueError(f"window {window.shape} and kernel {kernel.shape} must have one shape.")

    def weight(value: float) -> str:
        text = f"{value:.3g}"
        return f"({text})" if value < 0 else text

    terms = [
        f"{x:.2f}×{weight(float(w))}" for x, w in zip(window.ravel(), kernel.ravel(), strict=True)
    ]
    return f"{' + '.join(terms)} = {float((window * kernel).sum()):.3f}"
