"""Figures and image tiles built once per content, shared by every rerun and session.

Under load (10 sessions on 2 cores) a page's own work was mostly rebuilding the
same Plotly figures and re-encoding the same image tiles on every rerun
(benchmarks/profile_renders.py). These wrappers cache the pure builders of
``cnn_core.charts`` keyed on their inputs' CONTENT: the filters' weights, the
confusion matrix, the class counts, the pixels of the tiles. A retrained,
renamed or deleted run therefore can never show a stale figure (new weights or
predictions are a new key), and two runs with identical inputs share one entry.
Keys never involve time.

Arrays that may be large are keyed on an exact digest of their bytes
(`cnn_core.base.digests.array_digest`) and passed unhashed: Streamlit's own hasher
samples arrays of 500,000 elements or more. Small ones (a matrix, counts) are hashed by Streamlit.

Figures come from `st.cache_resource`: one object shared by all sessions, no
copy per hit (a pickled copy would be rebuilt and revalidated by Plotly, the
cost being avoided), so callers pass them to `st.plotly_chart` and never modify
them. Every cache is bounded; the largest entry (a 512-filter grid) is a few
hundred kB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from cnn_core.base.digests import array_digest
from cnn_core.charts.data import class_distribution_figure, jpeg_tiles
from cnn_core.charts.evaluation import confusion_matrix_figure
from cnn_core.charts.model_views import filter_grid_figure, layer_flow_figure


@st.cache_resource(max_entries=32, show_spinner=False)
def _filter_grid(key: str, title: str, labels: tuple[str, ...] | None, _weights: Any) -> go.Figure:
    return filter_grid_figure(_weights, title, labels)


def filter_grid(weights: np.ndarray, title: str, labels: Sequence[str] | None = None) -> go.Figure:
    """`filter_grid_figure`, once per (weights, title, labels); shared, do not modify."""
    names = None if labels is None else tuple(labels)
    return _filter_grid(array_digest(weights), title, names, weights)


@st.cache_resource(max_entries=16, show_spinner=False)
def _layer_flow(flow: tuple[tuple[tuple[str, Any], ...], ...]) -> go.Figure:
    return layer_flow_figure([dict(step) for step in flow])


def layer_flow_chart(flow: Sequence[dict[str, Any]]) -> go.Figure:
    """`layer_flow_figure`, once per layer list (names, kinds, shapes, weight counts)."""
    return _layer_flow(tuple(tuple(sorted(step.items())) for step in flow))


@st.cache_resource(max_entries=32, show_spinner=False)
def _confusion(
    matrix: np.ndarray,
    class_names: tuple[str, ...],
    normalise: bool,
    selected: tuple[int, int] | None,
    title: str,
) -> go.Figure:
    return confusion_matrix_figure(matrix, class_names, normalise, selected, title)


def confusion_chart(
    matrix: np.ndarray,
    class_names: Sequence[str],
    normalise: bool = False,
    selected: tuple[int, int] | None = None,
    title: str = "",
) -> go.Figure:
    """`confusion_matrix_figure`, once per (counts, names, view, outlined cell, title)."""
    cell = None if selected is None else (int(selected[0]), int(selected[1]))
    matrix = np.asarray(matrix, np.int64)
    return _confusion(matrix, tuple(class_names), bool(normalise), cell, str(title))


@st.cache_resource(max_entries=16, show_spinner=False)
def _distribution(
    counts: tuple[tuple[str, tuple[int, ...]], ...], names: tuple[str, ...]
) -> go.Figure:
    return class_distribution_figure({split: np.array(c) for split, c in counts}, list(names))


def distribution_chart(counts: dict[str, np.ndarray], class_names: Sequence[str]) -> go.Figure:
    """`class_distribution_figure`, once per (split counts, class names)."""
    key = tuple((split, tuple(int(v) for v in values)) for split, values in counts.items())
    return _distribution(key, tuple(class_names))


@st.cache_data(max_entries=64, show_spinner=False)
def _tiles(key: str, scale: int, _images: np.ndarray) -> list[bytes]:
    return jpeg_tiles(_images, scale)


def image_tiles(images: np.ndarray, scale: int) -> list[bytes]:
    """JPEG bytes of `pixel_tiles(images, scale)`, for `st.image`, once per pixels and scale.

    Args:
        images: uint8 (n, h, w, c) in [0, 255], e.g. `dataset.x_test[indices]`.
        scale: whole-pixel enlargement, >= 1.
    """
    return _tiles(array_digest(images), int(scale), images)
