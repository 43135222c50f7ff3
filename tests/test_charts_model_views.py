"""cnn_core.charts.model_views: filters, feature maps, Grad-CAM, layer flow, probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.charts.model_views import (
    feature_map_grid_figure,
    filter_grid_figure,
    gradcam_overlay_figure,
    layer_flow_figure,
    probability_bar_figure,
)
from cnn_core.charts.style import KIND_COLOURS


def test_filter_grid_uses_one_symmetric_scale_and_shows_the_range() -> None:
    weights = np.array([[[-0.31, 0.1]], [[0.42, 0.0]], [[0.2, -0.1]]], np.float32)  # (3, 1, 2)
    fig = filter_grid_figure(weights, "conv1")
    heatmap = fig.data[0]
    assert len(fig.data) == 1 and heatmap.zmin == -heatmap.zmax == pytest.approx(-0.42)
    assert "min -0.31" in fig.layout.title.text and "max 0.42" in fig.layout.title.text
    assert np.asarray(heatmap.z).shape == (2 * 1 + 1, 2 * 2 + 1)  # 2 columns, 1-cell gaps
    with pytest.raises(ValueError, match="labels"):
        filter_grid_figure(weights, "conv1", labels=["a", "b"])


def test_feature_map_grid_pages_channels() -> None:
    maps = np.random.default_rng(5).uniform(0, 3, (5, 5, 70)).astype(np.float32)
    second = feature_map_grid_figure(maps, "conv2", max_channels=64, page=1)
    assert "channels 64-69 of 70" in second.layout.title.text
    assert np.nanmax(np.asarray(second.data[0].z)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="page"):
        feature_map_grid_figure(maps, "conv2", max_channels=64, page=2)


def test_probability_bars_are_sorted_and_cut_to_top_k() -> None:
    fig = probability_bar_figure(np.array([0.1, 0.6, 0.3]), ["a", "b", "c"], 2)
    assert list(fig.data[0].y) == ["b", "c"]
    assert fig.data[0].marker.color[0] != fig.data[0].marker.color[1]  # the top one stands out
    with pytest.raises(ValueError, match="class_names"):
        probability_bar_figure(np.array([0.5, 0.5]), ["a"])


def test_gradcam_overlay_puts_the_heat_over_the_image() -> None:
    image = np.zeros((6, 4, 1), np.float32)
    heat = np.linspace(0, 1, 24, dtype=np.float32).reshape(6, 4)
    overlay = gradcam_overlay_figure(image, heat, "Grad-CAM")
    assert [trace.type for trace in overlay.data] == ["image", "heatmap"]
    assert np.asarray(overlay.data[0].z).shape == (6, 4, 3)  # grey shown as RGB
    with pytest.raises(ValueError, match="must match"):
        gradcam_overlay_figure(image, heat.T, "Grad-CAM")


def test_layer_flow_draws_one_box_per_layer_wrapping_rows() -> None:
    kinds = ["InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    flow = [
        {"name": f"l{i}", "kind": kind, "shape_text": "8x8x4", "params": 10 * i}
        for i, kind in enumerate(kinds)
    ]
    fig = layer_flow_figure(flow, per_row=2)
    assert [shape.fillcolor for shape in fig.layout.shapes] == [KIND_COLOURS[k] for k in kinds]
    assert len({shape.y0 for shape in fig.layout.shapes}) == 3  # 5 boxes, 2 a row
    assert fig.data[0].hovertext[4] == "l4: 8x8x4, 40 params"
