"""What a trained model does, drawn: filters, feature maps, Grad-CAM, layers, probabilities.

Every function takes numpy arrays (or plain records) and returns a new
``go.Figure``; none reads files or touches Keras. Grids of tiles are drawn as
ONE heatmap (tiles separated by blank gaps), which keeps a 512-filter layer
light for the browser. ``probability_bar_figure`` serves the Predict page and
the Concepts tab's softmax as well as "Inside the CNN".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from cnn_core.charts.style import (
    BAR_COLOUR,
    COLORBAR,
    HEAT,
    KIND_COLOURS,
    MARGIN,
    TEXT_COLOUR,
    TOP_COLOUR,
    checked_array,
    diverging_heatmap,
    image_layout,
    plain_labels,
)


def _mosaic(tiles: np.ndarray, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Lays (n, h, w) tiles on a near-square grid with NaN gaps between them.

    Returns:
        (values, index): float32 (R, C) with NaN in the gaps, and int32 (R, C)
        giving the tile number of each cell (-1 in the gaps).
    """
    n, h, w = tiles.shape
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    values = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, np.float32)
    index = np.full(values.shape, -1, np.int32)
    for i, tile in enumerate(tiles):
        top, left = (i // cols) * (h + gap), (i % cols) * (w + gap)
        values[top : top + h, left : left + w] = tile
        index[top : top + h, left : left + w] = i
    return values, index


def filter_grid_figure(
    weights: np.ndarray, title: str, labels: Sequence[str] | None = None
) -> go.Figure:
    """Every filter of a layer on one shared, symmetric, diverging colour scale.

    One scale for the whole layer lets filters be compared: a pale filter
    really has small weights. Also draws softmax templates (n = classes).

    Args:
        weights: (n, kh, kw) from ``filter_weights`` or ``softmax_templates``.
        title: figure title; the value range is appended.
        labels: optional name per tile for the hover text (e.g. class names).

    Returns:
        A heatmap grid of ceil(sqrt(n)) columns; red positive, blue negative.

    Raises:
        ValueError: for a wrongly shaped array or label list.
    """
    weights = checked_array(weights, 3, "weights", "(n, kh, kw)")
    if labels is not None and len(labels) != len(weights):
        raise ValueError(f"labels must name all {len(weights)} tiles. Received: {len(labels)}")
    values, index = _mosaic(weights)
    low, high = float(weights.min()), float(weights.max())
    shown = None if labels is None else plain_labels(labels)
    names = [str(i) if shown is None else f"{i}: {shown[i]}" for i in range(len(weights))]
    heatmap = diverging_heatmap(
        values,
        customdata=np.where(index >= 0, np.array(names)[index], ""),
        hoverongaps=False,
        hovertemplate="filter %{customdata}<br>weight %{z:.3f}<extra></extra>",
        colorbar=COLORBAR,
    )
    kh, kw = weights.shape[1:]
    full_title = f"{title}: {len(weights)} x {kh}x{kw}, min {low:.3g}, max {high:.3g}"
    return image_layout(go.Figure(heatmap), full_title)


def feature_map_grid_figure(
    maps: np.ndarray, title: str, max_channels: int = 64, page: int = 0, max_side: int = 64
) -> go.Figure:
    """One page of a layer's feature maps, each scaled to its own range.

    Args:
        maps: (h, w, c) from ``Inspector.feature_maps``.
        title: figure title; the channel range shown is appended.
        max_channels: channels per page, >= 1.
        page: which page, in [0, ceil(c / max_channels)).
        max_side: larger maps are subsampled to about this many pixels a side
            so big layers (VGG16 at 224x224) stay light to draw.

    Returns:
        A grid of ceil(sqrt(k)) columns; bright = strong activation. Hover
        shows the channel and its raw value.

    Raises:
        ValueError: for a bad shape, max_channels or page.
    """
    maps = checked_array(maps, 3, "maps", "(h, w, c)")
    if max_channels < 1:
        raise ValueError(f"max_channels must be >= 1. Received: max_channels={max_channels}")
    pages = math.ceil(maps.shape[2] / max_channels)
    if not 0 <= page < pages:
        raise ValueError(f"page must be in [0, {pages - 1}]. Received: page={page}")
    first, last = page * max_channels, min((page + 1) * max_channels, maps.shape[2])
    step = max(1, math.ceil(max(maps.shape[:2]) / max_side))
    tiles = np.transpose(maps[::step, ::step, first:last], (2, 0, 1))  # (k, h', w')
    low = tiles.min(axis=(1, 2), keepdims=True)
    span = tiles.max(axis=(1, 2), keepdims=True) - low
    scaled = np.divide(tiles - low, span, out=np.zeros_like(tiles), where=span > 0)  # [0, 1]
    values, index = _mosaic(scaled)
    raw, _ = _mosaic(tiles)
    # (R, C, 2) float32: channel number and raw activation, for the hover text
    hover = np.stack([np.where(index >= 0, index + first, -1), raw], -1).astype(np.float32)
    template = "channel %{customdata[0]}<br>value %{customdata[1]:.3f}<extra></extra>"
    look = {"colorscale": "Viridis", "zmin": 0, "zmax": 1, "showscale": False, "hoverongaps": False}
    heatmap = go.Heatmap(z=values, customdata=hover, hovertemplate=template, **look)
    note = f"channels {first}-{last - 1} of {maps.shape[2]}, each scaled to its own range"
    if step > 1:
        note += f", every {step}th pixel"
    return image_layout(go.Figure(heatmap), f"{title}: {note}")


def _rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3) pixels in [0, 255] -> uint8 (H, W, 3)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W), (H, W, 1) or (H, W, 3). Received: {image.shape}")
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def gradcam_overlay_figure(image: np.ndarray, heatmap: np.ndarray, title: str) -> go.Figure:
    """The (H, W[, C]) image in [0, 255] under its (H, W) Grad-CAM heat map in [0, 1].

    Red marks the most evidence. Raises ValueError when the two shapes differ.
    """
    rgb = _rgb(image)
    heatmap = checked_array(heatmap, 2, "heatmap", "(H, W)")
    if heatmap.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap {heatmap.shape} must match the image {rgb.shape[:2]}.")
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    heat = {"colorscale": HEAT, "zmin": 0, "zmax": 1, "opacity": 0.45, "colorbar": COLORBAR}
    fig.add_trace(go.Heatmap(z=heatmap, hovertemplate="heat %{z:.2f}<extra></extra>", **heat))
    return image_layout(fig, title)


def probability_bar_figure(
    probs: np.ndarray, class_names: Sequence[str], top_k: int | None = None
) -> go.Figure:
    """Horizontal bars of class probabilities, most likely on top and highlighted.

    Args:
        probs: (K,) probabilities in [0, 1].
        class_names: K names, in class-index order.
        top_k: show only the k most likely (>= 1); None shows all.

    Returns:
        A bar chart with percentages printed on the bars.

    Raises:
        ValueError: when names and probabilities differ in length, or top_k < 1.
    """
    probs = checked_array(probs, 1, "probs", "(num_classes,)")
    if len(class_names) != len(probs):
        raise ValueError(
            f"class_names must have {len(probs)} entries. Received: {len(class_names)}"
        )
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1. Received: top_k={top_k}")
    order = np.argsort(-probs, kind="stable")[:top_k]
    labels = plain_labels(class_names)
    colours = [TOP_COLOUR] + [BAR_COLOUR] * (len(order) - 1)
    bar = go.Bar(
        x=probs[order],
        y=[labels[i] for i in order],
        orientation="h",
        marker_color=colours,
        text=[f"{p:.1%}" for p in probs[order]],
        textposition="auto",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    )
    fig = go.Figure(bar)
    fig.update_xaxes(range=[0, 1.001], tickformat=".0%", dtick=0.25)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(margin=MARGIN, height=60 + 24 * len(order), title="Class probabilities")
    return fig


def layer_flow_figure(flow: Sequence[dict[str, Any]], per_row: int = 6) -> go.Figure:
    """A left-to-right chart of boxes, one per layer, wrapping after ``per_row``.

    Args:
        flow: from ``layer_flow`` (name, kind, shape_text, params).
        per_row: boxes per row, >= 1.

    Returns:
        Boxes coloured by kind with the output shape in bold and arrows
        between them; hovering a box shows its parameter count.
    """
    per_row = max(1, per_row)
    width, height, dx, dy = 1.0, 0.8, 1.3, 1.1  # box size and pitch, in data units
    centres, shapes, annotations = [], [], []  # (x, y) of each box; set on the figure once
    for i, step in enumerate(flow):
        x0, y1 = (i % per_row) * dx, -(i // per_row) * dy
        box = {"x0": x0, "x1": x0 + width, "y0": y1 - height, "y1": y1}
        colour = KIND_COLOURS.get(step["kind"], "#f0f0f0")
        shapes.append(
            {"type": "rect", "fillcolor": colour, "line": {"color": "#636363", "width": 1}, **box}
        )
        centre = (x0 + width / 2, y1 - height / 2)
        text = f"{step['name']}<br><i>{step['kind']}</i><br><b>{step['shape_text']}</b>"
        annotations.append(
            {
                "x": centre[0],
                "y": centre[1],
                "text": text,
                "showarrow": False,
                "font": {"size": 11, "color": TEXT_COLOUR},
            }
        )
        if i % per_row:
            arrow_x = x0 - (dx - width) / 2
            annotations.append({"x": arrow_x, "y": centre[1], "text": "\u2192", "showarrow": False})
        centres.append(centre)
    # one layout update: add_shape / add_annotation one at a time revalidate the whole
    # list each call (quadratic; 4 s for a VGG16 on a loaded 2-core server)
    fig = go.Figure(layout={"shapes": shapes, "annotations": annotations})
    hover = [f"{s['name']}: {s['shape_text']}, {s['params']:,} params" for s in flow]
    xs, ys = zip(*centres, strict=True) if centres else ((), ())
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            opacity=0,
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
        )
    )
    rows = max(1, math.ceil(len(flow) / per_row))
    fig.update_xaxes(visible=False, range=[-0.05, (per_row - 1) * dx + width + 0.05])
    fig.update_yaxes(visible=False, range=[-(rows - 1) * dy - height - 0.05, 0.05])
    fig.update_layout(
        margin=MARGIN, height=50 + 100 * rows, title="Layer by layer", plot_bgcolor="white"
    )
    return fig
