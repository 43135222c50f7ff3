"""Plotly figure builders for data and training: pure functions of plain data."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_core.records import EpochRecord

TRAIN_COLOR = "#2563eb"
VAL_COLOR = "#f97316"
SPLIT_COLORS = {"train": "#2563eb", "validation": "#f97316", "test": "#10b981"}


def training_curves_figure(history: list[EpochRecord], epochs: int | None = None) -> go.Figure:
    """Loss and accuracy per epoch, train and validation, side by side.

    Args:
        history: a run's epoch records, in order.
        epochs: the planned number of epochs, to fix the x range while training.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    x = [r.epoch for r in history]
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for key, name, color in (
            (metric, "train", TRAIN_COLOR),
            (f"val_{metric}", "validation", VAL_COLOR),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[getattr(r, key) for r in history],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    line={"color": color},
                ),
                row=1,
                col=col,
            )
    last = max(epochs or 1, x[-1] if x else 1)
    fig.update_xaxes(title_text="epoch", range=[0.8, last + 0.2], dtick=max(1, last // 10))
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def class_distribution_figure(counts: dict[str, np.ndarray], class_names: list[str]) -> go.Figure:
    """Grouped bars: images per class in each split (e.g. train, validation, test)."""
    fig = go.Figure()
    for split, values in counts.items():
        fig.add_trace(
            go.Bar(
                x=class_names,
                y=np.asarray(values).tolist(),
                name=split,
                marker_color=SPLIT_COLORS.get(split),
            )
        )
    fig.update_layout(
        barmode="group",
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis_title="images",
        legend={"orientation": "h", "y": 1.12},
    )
    fig.update_xaxes(type="category")  # class names such as "0".."9" are labels, not numbers
    return fig


def compare_runs_figure(histories: dict[str, list[dict[str, Any]]], metric: str) -> go.Figure:
    """One line per run of `metric` (e.g. val_accuracy) against the epoch."""
    fig = go.Figure()
    for label, history in histories.items():
        fig.add_trace(
            go.Scatter(
                x=[r["epoch"] for r in history],
                y=[r.get(metric) for r in history],
                mode="lines+markers",
                name=label,
            )
        )
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="epoch",
        yaxis_title=metric.replace("_", " "),
    )
    return fig


def pixel_tiles(images: np.ndarray, scale: int) -> list[np.ndarray]:
    """Enlarge uint8 images (n, h, w, c) by whole pixels for crisp display.

    Returns:
        A list of uint8 arrays (h*scale, w*scale) for grey or (.., .., 3) for colour.
    """
    big = images.repeat(scale, axis=1).repeat(scale, axis=2)
    if big.shape[-1] == 1:
        big = big[..., 0]
    return list(big)
