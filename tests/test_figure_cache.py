"""The pages' content-keyed figure and tile caches (pages/_shared/figure_cache.py).

Each cache must hand back the same object for the same content (that is the
saving) and a new, different figure or tile as soon as any input changes (a
retrained model's weights, another run's matrix, other pixels): never a stale one.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.elements.lib.image_utils import _np_array_to_bytes

from cnn_core.base.digests import array_digest
from cnn_core.charts.data import jpeg_tiles, pixel_tiles
from pages._shared import figure_cache
from pages._shared.figure_cache import (
    confusion_chart,
    distribution_chart,
    filter_grid,
    image_tiles,
    layer_flow_chart,
)


def weights(seed: int, n: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 3)).astype(np.float32)


def test_array_digest_sees_every_byte_dtype_and_shape() -> None:
    digest = array_digest
    big = np.zeros(600_000, np.float32)  # above Streamlit's sampling threshold (500,000)
    changed = big.copy()
    changed[123_457] = 1e-6
    assert digest(big) == digest(big.copy())
    assert digest(big) != digest(changed)
    assert digest(big) != digest(big.astype(np.float64))
    assert digest(big) != digest(big.reshape(600, 1000))
    assert digest(big[::2]) == digest(np.ascontiguousarray(big[::2]))


def test_filter_grid_is_built_once_per_weights_and_never_stale() -> None:
    first = filter_grid(weights(0), "conv1, input channel 0")
    assert filter_grid(weights(0).copy(), "conv1, input channel 0") is first
    retrained = weights(1)
    other = filter_grid(retrained, "conv1, input channel 0")
    assert other is not first
    assert np.nanmax(other.data[0].z) == pytest.approx(retrained.max())
    assert f"max {retrained.max():.3g}" in other.layout.title.text
    assert filter_grid(weights(0), "conv2, input channel 0") is not first
    labelled = filter_grid(weights(0, 10), "Class templates", [f"c{i}" for i in range(10)])
    relabelled = filter_grid(weights(0, 10), "Class templates", [f"d{i}" for i in range(10)])
    assert labelled is not relabelled and "d3" in str(relabelled.data[0].customdata)


def test_confusion_and_distribution_charts_follow_their_counts() -> None:
    matrix = np.array([[5, 1], [2, 7]])
    names = ["cat", "dog"]
    first = confusion_chart(matrix, names)
    assert confusion_chart(matrix.copy(), list(names)) is first
    assert confusion_chart(matrix, names, selected=(np.int64(0), np.int64(1))) is not first
    changed = confusion_chart(np.array([[5, 1], [3, 7]]), names)
    assert changed is not first and changed.data[0].z[1][0] == 3
    assert confusion_chart(matrix, names, normalise=True).data[0].zmax == 1

    counts = {"train": np.array([3, 4]), "test": np.array([1, 2])}
    bars = distribution_chart(counts, names)
    assert distribution_chart({k: v.copy() for k, v in counts.items()}, names) is bars
    more = distribution_chart({"train": np.array([3, 5]), "test": np.array([1, 2])}, names)
    assert more is not bars and list(more.data[0].y) == [3, 5]


def test_layer_flow_chart_changes_with_the_layers() -> None:
    flow = [
        {"name": "input", "kind": "InputLayer", "shape": (28, 28, 1), "shape_text": "28x28x1"}
        | {"params": 0},
        {"name": "conv1", "kind": "Conv2D", "shape": (26, 26, 8), "shape_text": "26x26x8"}
        | {"params": 80},
    ]
    chart = layer_flow_chart(flow)
    assert layer_flow_chart([dict(step) for step in flow]) is chart
    wider = [flow[0], flow[1] | {"shape": (26, 26, 16), "shape_text": "26x26x16", "params": 160}]
    assert "26x26x16" in str(layer_flow_chart(wider).layout.annotations)
    assert "26x26x16" not in str(chart.layout.annotations)


def test_image_tiles_are_what_streamlit_would_encode_and_follow_the_pixels() -> None:
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, size=(4, 6, 5, 1), dtype=np.uint8)
    colour = rng.integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    for images, scale in ((grey, 3), (colour, 2)):
        tiles = image_tiles(images, scale)
        expected = [_np_array_to_bytes(tile, "auto") for tile in pixel_tiles(images, scale)]
        assert tiles == expected  # st.image's own bytes for the array
        decoded = Image.open(io.BytesIO(tiles[0]))
        assert decoded.size == (images.shape[2] * scale, images.shape[1] * scale)
    changed = grey.copy()
    changed[2, 0, 0, 0] ^= 0xFF
    again, other = image_tiles(grey, 3), image_tiles(changed, 3)
    assert again[2] != other[2] and again[:2] == other[:2]
    assert image_tiles(grey, 2)[0] != again[0]


def test_jpeg_tiles_rejects_what_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="uint8"):
        jpeg_tiles(np.zeros((1, 4, 4, 1), np.float32), 2)
    with pytest.raises(ValueError, match="scale"):
        jpeg_tiles(np.zeros((1, 4, 4, 1), np.uint8), 0)


def test_figure_caches_are_bounded() -> None:
    figure_cache._filter_grid.clear()
    oldest = filter_grid(weights(100, 2), "bounded")
    assert filter_grid(weights(100, 2), "bounded") is oldest
    for seed in range(101, 133):  # 32 more entries: max_entries is 32
        filter_grid(weights(seed, 2), "bounded")
    assert filter_grid(weights(100, 2), "bounded") is not oldest  # evicted, rebuilt
