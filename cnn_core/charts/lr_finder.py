"""The learning-rate finder's curve: training loss against the rate, on a log axis."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from cnn_core.charts.style import HIGHLIGHT, MARGIN, TRAIN_COLOUR
from cnn_core.training.lr_finder import LrTestResult

RAW_COLOUR = "#94a3b8"  # each batch's loss, behind the smoothed line


def lr_finder_figure(result: LrTestResult) -> go.Figure:
    """Raw and smoothed loss of each batch against its learning rate, the suggestion marked.

    The y range follows the smoothed curve (with a margin), so the last raw
    losses of a diverging test do not squash the part worth reading.

    Args:
        result: a finished range test.

    Returns:
        A new figure; x is the learning rate on a log10 axis.
    """
    rates = list(result.rates)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=rates,
            y=list(result.losses),
            mode="markers",
            name="batch loss",
            marker={"color": RAW_COLOUR, "size": 4},
            hovertemplate="rate %{x:.2e}<br>loss %{y:.4f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=rates,
            y=list(result.smoothed),
            mode="lines",
            name="smoothed loss",
            line={"color": TRAIN_COLOUR, "width": 2},
            hovertemplate="rate %{x:.2e}<br>smoothed %{y:.4f}<extra></extra>",
        )
    )
    if result.suggestion is not None and rates:
        _mark_suggestion(fig, result.suggestion.rate, rates)
    smoothed = [v for v in result.smoothed if v is not None]
    if smoothed:
        low, high = min(smoothed), max(smoothed)
        pad = 0.08 * (high - low) or 0.1 * abs(high) or 0.1
        fig.update_yaxes(range=[low - pad, high + pad])
    fig.update_xaxes(type="log", title_text="learning rate", exponentformat="power", dtick=2)
    fig.update_yaxes(title_text="loss")
    fig.update_layout(
        height=280,
        margin={**MARGIN, "t": 30},
        showlegend=False,  # the page's caption says dots are batches, the line smoothed
    )
    return fig


def _mark_suggestion(fig: go.Figure, rate: float, rates: list[float]) -> None:
    """A dashed line at the suggested `rate`, labelled away from the nearer edge
    (so a narrow column does not cut the label)."""
    fig.add_vline(x=rate, line={"dash": "dash", "color": HIGHLIGHT})
    middle = (math.log10(rates[0]) + math.log10(rates[-1])) / 2
    fig.add_annotation(
        x=math.log10(rate),
        y=1,
        yref="paper",
        text=f"suggested {rate:.2g}",
        showarrow=False,
        xanchor="right" if math.log10(rate) > middle else "left",
        yanchor="bottom",
        font={"size": 12, "color": HIGHLIGHT},
    )
