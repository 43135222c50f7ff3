"""Data figures: images per class in each split, and crisp enlarged sample images."""

from __future__ import annotations

import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cnn_core.charts.style import MARGIN, SPLIT_COLOURS, plain_labels


def class_distribution_figure(counts: dict[str, np.ndarray], class_names: list[str]) -> go.Figure:
    """Grouped bars: images per class in each split (e.g. train, validation, test).

    Args:
        counts: split name -> int (n_classes,) image counts, in class-index order.
        class_names: n_classes names for the x axis.
    """
    fig = go.Figure()
    for split, values in counts.items():
        fig.add_trace(
            go.Bar(
                x=plain_labels(class_names),
                y=np.asarray(values).tolist(),
                name=split,
                marker_color=SPLIT_COLOURS.get(split),
            )
        )
    fig.update_layout(
        barmode="group",
        height=320,
        margin={**MARGIN, "t": 30},
        yaxis_title="images",
        legend={"orientation": "h", "y": 1.12},
    )
    fig.update_xaxes(type="category")  # class names such as "0".."9" are labels, not numbers
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


def jpeg_tiles(images: np.ndarray, scale: int) -> list[bytes]:
    """`pixel_tiles` encoded as the JPEG files `st.image` would make of them.

    Streamlit encodes an array given to `st.image` as JPEG at quality 100 on every
    call; encoding once lets a page cache the bytes (st.image passes them through).

    Args:
        images: uint8 (n, h, w, c) in [0, 255], c = 1 or 3.
        scale: whole-pixel enlargement, >= 1.

    Returns:
        One JPEG file's bytes per image, (h*scale, w*scale) pixels, grey or RGB.

    Raises:
        ValueError: for a non-uint8 or wrongly shaped array, or scale < 1.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be uint8 (n, h, w, 1 or 3). Received: {images.dtype} {images.shape}"
        )
    if scale < 1:
        raise ValueError(f"scale must be >= 1. Received: scale={scale}")
    files = []
    for tile in pixel_tiles(images, scale):
        out = io.BytesIO()
        Image.fromarray(tile).save(out, format="JPEG", quality=100)
        files.append(out.getvalue())
    return files
