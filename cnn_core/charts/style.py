"""The shared look of every figure: colours, margins, colour scales, image panels.

Constants and small helpers used by the other ``cnn_core.charts`` modules, so a
colour or a margin is defined once. Image-like panels all look the same: no
ticks, equal aspect, row 0 at the top, small margins.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

# Series colours
TRAIN_COLOUR = "#2563eb"
VAL_COLOUR = "#f97316"
SPLIT_COLOURS = {"train": TRAIN_COLOUR, "validation": VAL_COLOUR, "test": "#10b981"}
TOP_COLOUR = "#d62728"  # the most likely class
BAR_COLOUR = "#1f77b4"  # every other class
HIGHLIGHT = "#f97316"  # outlines a chosen cell or window
TEXT_COLOUR = "#262730"  # Streamlit's text colour; its theme greys annotations
KIND_COLOURS = {"Conv2D": "#9ecae1", "MaxPooling2D": "#a1d99b", "AveragePooling2D": "#a1d99b"}
KIND_COLOURS |= {"Dense": "#fdae6b", "InputLayer": "#d9d9d9", "Flatten": "#dadaeb"}

# Colour scales
DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
HEAT = "Jet"  # Grad-CAM heat, 0 blue to 1 red
COLORBAR = {"thickness": 10, "len": 0.8}

# Layout
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}  # room for a one-line title
# no tick marks or labels: Streamlit's Plotly theme would draw tick marks otherwise
NO_TICKS = {"showticklabels": False, "ticks": "", "showgrid": False, "zeroline": False}


def checked_array(array: np.ndarray, ndim: int, name: str, layout: str) -> np.ndarray:
    """Returns ``array`` as float32, or raises ValueError if it is not a non-empty ``ndim``-D array.

    Args:
        array: what a caller passed.
        ndim: the number of dimensions wanted.
        name, layout: for the message, e.g. "maps" and "(h, w, c)".
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != ndim or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty {layout} array. Received: shape {array.shape}"
        )
    return array


def diverging_heatmap(z: np.ndarray, bound: float | None = None, **options: Any) -> go.Heatmap:
    """A heatmap on the red/blue scale, symmetric about 0.

    Args:
        z: 2-D values (NaN for blank cells).
        bound: the colour range is [-bound, bound]; None takes max |z| (1 when z is all 0).
        options: more ``go.Heatmap`` properties.
    """
    if bound is None:
        bound = float(np.nanmax(np.abs(z)))
    bound = bound or 1.0
    return go.Heatmap(z=z, colorscale=DIVERGING, zmin=-bound, zmax=bound, zmid=0, **options)


def image_layout(
    fig: go.Figure, title: str, height: int | None = None, margin: dict | None = None
) -> go.Figure:
    """Hides ticks, fixes equal aspect with row 0 on top, and tightens margins (in place).

    Args:
        fig: a figure of one or more image-like panels (heatmaps, images).
        title: figure title ("" for none).
        height: figure height in pixels; None lets Plotly choose.
        margin: plot margins; None is ``MARGIN``.

    Returns:
        ``fig``, for the builders that made it.
    """
    fig.update_xaxes(**NO_TICKS, constrain="domain")
    fig.update_yaxes(**NO_TICKS, autorange="reversed")
    for axis in fig.select_yaxes():
        # each y axis keeps its own x axis' scale: "y2" follows "x2" (square pixels)
        axis.update(scaleanchor=axis.anchor or "x", scaleratio=1)
    return fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        margin=MARGIN if margin is None else margin,
        height=height,
        plot_bgcolor="rgba(0,0,0,0)",  # tile gaps and letterboxing stay blank
    )


def plain_labels(names: Sequence[object]) -> list[str]:
    """Names as Plotly shows them literally.

    Plotly reads a few HTML tags in labels (<b>, <br>, <a href=...>); class names
    can come from a user's folder names, so `<`, `>` and `&` become entities, which
    Plotly displays as the characters themselves.
    """
    return [html.escape(str(name), quote=False) for name in names]


MIN_ACCURACY_SPAN = 0.05  # an accuracy axis spans at least 5 points: noise stays small


def accuracy_axis(values: Sequence[float | None]) -> dict[str, Any]:
    """Plotly y-axis settings for accuracies in [0, 1]: a percent axis spanning the
    values with a margin, at least MIN_ACCURACY_SPAN wide, never outside [0, 1], with
    tick labels precise enough to differ (a collapsed run reads 9.5%, 10%, 10.5%)."""
    known = [v for v in values if v is not None and v == v]
    if not known:
        return {"range": [0.0, 1.0], "tickformat": ".0%"}
    low, high = min(known), max(known)
    pad = max((high - low) * 0.1, (MIN_ACCURACY_SPAN - (high - low)) / 2, 0.0)
    low, high = low - pad, high + pad
    if low < 0.0:
        low, high = 0.0, min(1.0, high - low)
    if high > 1.0:
        low, high = max(0.0, low - (high - 1.0)), 1.0
    return {"range": [low, high], "tickformat": ".0%" if high - low >= 0.2 else ".1%"}


def epoch_axis(last: int) -> dict[str, Any]:
    """Plotly x-axis settings for epochs 1..last: whole-number ticks only."""
    last = max(1, int(last))
    return {"range": [0.8, last + 0.2], "tick0": 1, "dtick": max(1, -(-last // 10))}
