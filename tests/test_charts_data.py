"""cnn_core.charts.data: images per class in each split, enlarged sample images."""

from __future__ import annotations

import numpy as np

from cnn_core.charts.data import class_distribution_figure, pixel_tiles


def test_class_distribution_has_one_bar_group_per_split() -> None:
    counts = {"train": np.array([5, 7]), "test": np.array([1, 2])}
    fig = class_distribution_figure(counts, ["0", "1"])
    assert [(t.name, list(t.y)) for t in fig.data] == [("train", [5, 7]), ("test", [1, 2])]
    assert fig.data[0].marker.color != fig.data[1].marker.color
    assert fig.layout.xaxis.type == "category"  # "0", "1" stay labels


def test_pixel_tiles_repeat_whole_pixels() -> None:
    grey = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3, 1)  # (n, h, w, 1)
    tiles = pixel_tiles(grey, 2)
    assert len(tiles) == 2 and tiles[0].shape == (4, 6) and tiles[0].dtype == np.uint8
    np.testing.assert_array_equal(tiles[1][::2, ::2], grey[1, :, :, 0])
    np.testing.assert_array_equal(tiles[1][1::2, 1::2], grey[1, :, :, 0])
    colour = np.zeros((1, 2, 2, 3), np.uint8)
    assert pixel_tiles(colour, 3)[0].shape == (6, 6, 3)
