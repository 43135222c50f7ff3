"""The Compare page's figures: overlaid curves of several runs, per-class accuracy side by side.

Pure functions of plain data (`cnn_core.insight.compare.curves.Curves`, lists of numbers). A run
keeps its colour wherever it is drawn: `run_colours` derives it from the run id.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_core.charts.loss_view import apply_loss_view
from cnn_core.charts.style import MARGIN, accuracy_axis, epoch_axis, plain_labels
from cnn_core.insight.compare.curves import Curves

# Plotly's "T10" palette: ten colours that stay apart for colour-blind readers too.
RUN_COLOURS = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)
BAND_ALPHA = 0.18  # opacity of a seed group's ± std band
X_TITLES = {"epoch": "epoch", "seconds": "wall-clock seconds of training"}


def run_colours(keys: Sequence[str]) -> dict[str, str]:
    """A colour per key (a run id or group id), the same whatever order they come in.

    Each key hashes to a palette slot; when two chosen keys share one, the later
    key (in sorted order) takes the next free slot. Beyond ten keys colours repeat.
    """
    colours: dict[str, str] = {}
    used: set[int] = set()
    for key in sorted(set(keys)):
        slot = zlib.crc32(key.encode("utf-8")) % len(RUN_COLOURS)
        if len(used) < len(RUN_COLOURS):
            while slot in used:
                slot = (slot + 1) % len(RUN_COLOURS)
        used.add(slot)
        colours[key] = RUN_COLOURS[slot]
    return colours


def _rgba(colour: str, alpha: float) -> str:
    """'#4c78a8' as 'rgba(76,120,168,alpha)'."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _band(curves: Curves, metric: str, colour: str) -> go.Scatter | None:
    """The mean ± std area of a group's metric, one closed polygon; None without spread."""
    spread = curves.spread.get(metric)
    if not spread:
        return None
    points = [
        (x, mean, std)
        for x, mean, std in zip(curves.x, curves.values[metric], spread, strict=True)
        if mean is not None and std is not None
    ]
    if not points:
        return None
    upper = [(x, mean + std) for x, mean, std in points]
    lower = [(x, mean - std) for x, mean, std in reversed(points)]
    outline = upper + lower
    return go.Scatter(
        x=[x for x, _ in outline],
        y=[y for _, y in outline],
        fill="toself",
        fillcolor=_rgba(colour, BAND_ALPHA),
        line={"width": 0},
        mode="lines",
        hoverinfo="skip",
        showlegend=False,
        legendgroup=curves.label,
        name=f"{curves.label} ± std",
    )


def _lines(series: Curves, key: str, colour: str, part: str, legend: bool) -> list[go.Scatter]:
    """The line of one metric (`key`, e.g. "val_loss"), after its band if it has one."""
    band = _band(series, key, colour)
    line = go.Scatter(
        x=list(series.x),
        y=list(series.values[key]),
        mode="lines+markers" if len(series.x) < 30 else "lines",
        name=series.label,
        legendgroup=series.label,
        showlegend=legend,
        line={"color": colour, "dash": "solid" if part == "validation" else "dash"},
        marker={"size": 5},
        hovertemplate=f"{series.label}<br>{part} {key}: %{{y:.4g}}<extra></extra>",
    )
    return [line] if band is None else [band, line]


def _best_marker(series: Curves, key: str, colour: str) -> list[go.Scatter]:
    """A star on the best epoch's point of `key` (none without a best epoch)."""
    if series.best_index is None:
        return []
    i = series.best_index
    marker = {"symbol": "star", "size": 14, "color": colour, "line": {"width": 1}}
    return [
        go.Scatter(
            x=[series.x[i]],
            y=[series.values[key][i]],
            mode="markers",
            marker=marker,
            name=f"{series.label}: best epoch",
            legendgroup=series.label,
            showlegend=False,
            hovertemplate=f"{series.label}<br>best epoch<br>{key}: %{{y:.4g}}<extra></extra>",
        )
    ]


def curves_overlay_figure(
    curves: Sequence[Curves],
    colours: Sequence[str],
    x_axis: str = "epoch",
    log_loss: bool = False,
    smoothing: float = 0.0,
) -> go.Figure:
    """Loss and accuracy of several runs on shared axes: one colour per run.

    Validation is solid, training dashed; a seed group is its mean with a ± one
    standard deviation band; a star marks each run's best epoch (highest
    validation accuracy).

    Args:
        curves: one per run or group (`insight.compare.curves.run_curves`/`group_curves`).
        colours: one '#rrggbb' per curves, in the same order.
        x_axis: "epoch" or "seconds" (what `curves.x` holds), for the axis title.
        log_loss: the loss on a log axis.
        smoothing: EMA weight of the past for the loss lines, in [0, 1)
            (`loss_view.smoothed`); raw lines stay faint, bands and stars unchanged.

    Returns:
        A new figure of two panels (loss, accuracy on a percent axis).

    Raises:
        ValueError: colours and curves differ in number.
    """
    if len(colours) != len(curves):
        raise ValueError(f"{len(curves)} curves need as many colours. Received: {len(colours)}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    for series, colour in zip(curves, colours, strict=True):
        series = replace(series, label=plain_labels([series.label])[0])  # a run's name, as typed
        for col, metric in ((1, "loss"), (2, "accuracy")):
            for traces in (
                _lines(series, f"val_{metric}", colour, "validation", col == 1),
                _lines(series, metric, colour, "training", False),
                _best_marker(series, f"val_{metric}", colour),
            ):
                for trace in traces:
                    fig.add_trace(trace, row=1, col=col)
    fig.update_xaxes(title_text=X_TITLES.get(x_axis, x_axis))
    if x_axis == "epoch":
        fig.update_xaxes(**epoch_axis(int(max((max(c.x, default=1) for c in curves), default=1))))
    accuracies = [
        v for c in curves for key in ("accuracy", "val_accuracy") for v in c.values.get(key, ())
    ]
    fig.update_yaxes(**accuracy_axis(accuracies), row=1, col=2)
    fig.update_layout(
        height=400,
        margin={**MARGIN, "t": 70},  # the note above the panels' titles
        legend={"orientation": "h", "y": -0.25},
        title={"text": "solid: validation · dashed: training · ★ best epoch", "font": {"size": 12}},
    )
    return apply_loss_view(fig, log_loss, smoothing)


def per_class_figure(
    class_names: Sequence[str],
    recalls: Sequence[Sequence[float]],
    labels: Sequence[str],
    colours: Sequence[str],
) -> go.Figure:
    """Per-class test accuracy (recall) of several runs as grouped bars.

    Args:
        class_names: the classes, in label order.
        recalls: one sequence per run of a recall in [0, 1] per class.
        labels, colours: each run's name and colour, in the same order.

    Raises:
        ValueError: a run's recalls do not cover the classes, or the lists differ in length.
    """
    if not len(recalls) == len(labels) == len(colours):
        raise ValueError("recalls, labels and colours need one entry per run")
    fig = go.Figure()
    for recall, label, colour in zip(recalls, plain_labels(labels), colours, strict=True):
        if len(recall) != len(class_names):
            raise ValueError(f"{label}: {len(recall)} recalls for {len(class_names)} classes")
        fig.add_trace(
            go.Bar(
                x=plain_labels(class_names),
                y=list(recall),
                name=label,
                marker_color=colour,
                hovertemplate=f"{label}<br>%{{x}}: %{{y:.1%}}<extra></extra>",
            )
        )
    fig.update_xaxes(type="category")  # class names such as "0".."9" are labels, not numbers
    fig.update_yaxes(tickformat=".0%", range=[0, 1], title_text="test accuracy of the class")
    fig.update_layout(
        barmode="group",
        height=320,
        margin=MARGIN,
        legend={"orientation": "h", "y": -0.25},
        title={"text": "Per-class test accuracy (recall)", "font": {"size": 14}},
    )
    return fig
