"""Loss panels people can read: a log scale and exponential smoothing.

A loss falls fast and then slowly; on a linear axis the first epoch hides the
rest, on a log axis every tenfold drop looks the same. Smoothing is
TensorBoard's: an exponential moving average with bias correction (the first
points are not pulled towards 0), drawn over the raw curve, which stays faint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

RAW_OPACITY = 0.25  # the raw curve under a smoothed one


def smoothed(values: Sequence[float | None], smoothing: float) -> list[float | None]:
    """The bias-corrected exponential moving average of `values`.

    s_t = (w s_{t-1} + (1 - w) v_t) / (1 - w^n): the running average divided by the
    weight its terms have so far, so a constant series stays constant. Missing
    (None or NaN) points stay missing and do not move the average.

    Args:
        values: a curve, in order.
        smoothing: the weight w of the past, in [0, 1); 0 returns the values.

    Raises:
        ValueError: for a smoothing outside [0, 1).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1). Received: smoothing={smoothing!r}")
    average = weight = 0.0
    out: list[float | None] = []
    for value in values:
        if value is None or not math.isfinite(value):
            out.append(None)
            continue
        average = smoothing * average + (1.0 - smoothing) * value
        weight = smoothing * weight + (1.0 - smoothing)
        out.append(average / weight)
    return out


def apply_loss_view(
    fig: go.Figure, log_loss: bool = False, smoothing: float = 0.0, xaxis: str = "x"
) -> go.Figure:
    """Put the loss panel of `fig` on a log axis and/or smooth its lines (in place).

    Only line traces on `xaxis` (the loss panel) change: each gets a faint raw copy
    underneath, without legend or hover, and its own points smoothed. Filled
    areas (a seed group's ± std band) and single-point markers stay as they are.

    Args:
        fig: a figure from a builder, its loss panel on `xaxis` ("x" is the first).
        log_loss: a log-scale y axis for the loss.
        smoothing: the EMA weight of the past, in [0, 1); 0 leaves the lines.
        xaxis: the loss panel's x axis ("x", "x2", ...).

    Returns:
        ``fig``.
    """
    smoothing = float(smoothing)
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1). Received: smoothing={smoothing!r}")
    lines = [trace for trace in fig.data if smoothing and _is_loss_line(trace, xaxis)]
    if lines:
        before = len(fig.data)
        fig.add_traces(
            [
                go.Scatter(line).update(
                    opacity=RAW_OPACITY, showlegend=False, hoverinfo="skip", hovertemplate=None
                )
                for line in lines
            ]
        )
        for line in lines:
            line.y = smoothed(list(line.y), smoothing)
        fig.data = fig.data[before:] + fig.data[:before]  # raw copies drawn first, underneath
    if log_loss:
        fig.layout["yaxis" if xaxis == "x" else f"yaxis{xaxis[1:]}"].type = "log"
    return fig


def _is_loss_line(trace: object, xaxis: str) -> bool:
    """A line of several points on the loss panel (not a band, not a marker)."""
    if not isinstance(trace, go.Scatter) or (trace.xaxis or "x") != xaxis:
        return False
    if trace.fill not in (None, "none") or trace.y is None or len(trace.y) < 2:
        return False
    return "lines" in (trace.mode or "lines")
