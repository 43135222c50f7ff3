"""Evaluate's embedding view: the test images on a 2-D map of what the network computes.

A helper of ``pages/evaluate.py``, not a page. Off until asked for (it loads the
model and TensorFlow, which the rest of Evaluate does without). The map is
``cnn_core.insight.embedding`` (penultimate activations of a stratified sample, PCA),
computed once per model version, predictions file and sample size and shared by
every session; the figure is ``cnn_core.charts.embedding``. Plotly cannot show
images on hover, so a click or a box/lasso selection shows the chosen images
beside the map, each with a link into Inside the CNN.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.charts.embedding import embedding_figure
from cnn_core.data.registry import Dataset
from cnn_core.insight.embedding import DEFAULT_SAMPLE, MAX_SAMPLE, Embedding, compute_embedding
from cnn_core.store.runs import RunSummary
from pages._shared.common import cached_model, require_model
from pages._shared.figure_cache import image_tiles
from pages._shared.inside_link import image_link

CHART = "eval_embed_chart"
SAMPLES = (500, DEFAULT_SAMPLE, MAX_SAMPLE)
SEED = 0
SHOWN_LIMIT = 12  # images shown for a selection
TILE_PX = 84


@st.cache_data(max_entries=8, show_spinner=False)
def _embedding(
    model_path: str,
    model_version: float,
    predictions_version: float,
    limit: int,
    _dataset: Dataset,
    _y_pred: np.ndarray,
) -> Embedding:
    model = cached_model(model_path, model_version)
    return compute_embedding(model, _dataset.x_test, _dataset.y_test, _y_pred, limit, SEED)


@st.cache_resource(max_entries=8, show_spinner=False)
def _figure(
    model_path: str,
    model_version: float,
    predictions_version: float,
    limit: int,
    class_names: tuple[str, ...],
    _embedding: Embedding,
) -> go.Figure:
    return embedding_figure(_embedding, class_names)


def selected_indices(embedding: Embedding) -> list[int]:
    """The test indices of the points clicked or selected on the map, errors first."""
    event = st.session_state.get(CHART)
    points = event.selection.points if event else []
    sampled = set(embedding.indices.tolist())
    chosen = []
    for point in points:
        data = point.get("customdata") or []
        if data and str(data[0]).isdigit() and int(data[0]) in sampled:
            chosen.append(int(data[0]))
    chosen = list(dict.fromkeys(chosen))
    position = {int(i): p for p, i in enumerate(embedding.indices)}
    wrong = {i for i in chosen if embedding.y_true[position[i]] != embedding.y_pred[position[i]]}
    return sorted(chosen, key=lambda i: i not in wrong)  # the errors first


def selection_panel(
    run: RunSummary, dataset: Dataset, embedding: Embedding, class_names: list[str]
) -> None:
    """The images of the selected points, each with its prediction and a link inside."""
    chosen = selected_indices(embedding)
    if not chosen:
        st.info("Click a point, or draw a lasso or box round some, to see their images here.")
        return
    st.markdown(f"**{len(chosen):,} image(s) selected**")
    shown = chosen[:SHOWN_LIMIT]
    position = {int(i): p for p, i in enumerate(embedding.indices)}
    scale = max(1, TILE_PX // dataset.info.image_shape[0])
    tiles = image_tiles(dataset.x_test[np.array(shown)], scale)
    for start in range(0, len(shown), 3):
        row = st.columns(3)
        for col, index, tile in zip(row, shown[start:], tiles[start:], strict=False):
            p = position[index]
            true, pred = class_names[embedding.y_true[p]], class_names[embedding.y_pred[p]]
            verdict = "right" if true == pred else f"predicted {pred}"
            caption = f"#{index} · true {true} · {verdict}"  # as Compare's image-by-image
            col.image(tile, caption=caption, width="stretch")
            image_link(col, run.run_id, index)
    if len(chosen) > SHOWN_LIMIT:
        st.caption(f"… and {len(chosen) - SHOWN_LIMIT:,} more not shown.")


def sample_choices(total: int) -> list[int]:
    """The sample sizes to offer for a test set of `total` images: those below it, then
    the first that takes them all (a small set gets one choice, not three that read alike)."""
    below = [n for n in SAMPLES if n < total]
    return below + [n for n in SAMPLES if n >= total][:1]


def embedding_section(
    run: RunSummary, dataset: Dataset, probs: np.ndarray, class_names: list[str]
) -> None:
    """The embedding view of `run` on its test set (the stored predictions' images)."""
    st.subheader("What the network learned: the embedding view")
    cols = st.columns([1, 1, 2], vertical_alignment="bottom")
    on = cols[0].toggle(
        "Show the map",
        key="eval_embed_on",
        help="Loads the model and runs it on a sample of test images (once per model).",
    )
    total = len(probs)
    choices = sample_choices(total)
    limit = cols[1].selectbox(
        "Test images",
        choices,
        index=choices.index(DEFAULT_SAMPLE) if DEFAULT_SAMPLE in choices else len(choices) - 1,
        format_func=lambda n: f"all {total:,}" if n >= total else f"{n:,} (sampled per class)",
        key="eval_embed_sample",
    )
    cols[2].caption(
        "Each dot is a test image placed by what the last hidden layer computes for it "
        "(the input of the output layer), flattened to 2-D by PCA: images the network sees "
        "alike land close together. Colour: true class; x: predicted wrong."
    )
    if not on:
        return
    require_model(run)  # a clear message for a missing or damaged model
    stored = run.predictions_path
    key = (str(run.model_path), run.model_version(), stored.stat().st_mtime, int(limit))
    with st.spinner("Running the model on the sampled test images (once per model)…"):
        try:
            embedding = _embedding(*key, dataset, probs.argmax(axis=1))
        except (UserError, ValueError) as error:
            st.error(f"The embedding view cannot be drawn for this run: {error}")
            return
    figure = _figure(*key, tuple(class_names), embedding)
    map_col, images_col = st.columns([3, 2], gap="large")
    with map_col:
        st.plotly_chart(
            figure,
            on_select="rerun",
            selection_mode=("points", "box", "lasso"),
            key=CHART,
        )
        first, second = embedding.explained
        st.caption(
            f"{len(embedding.indices):,} test images, {embedding.features:,} features each; "
            f"the two axes keep {first + second:.0%} of their variance. "
            f"{int((embedding.y_true != embedding.y_pred).sum()):,} of the points are errors."
        )
    with images_col:
        selection_panel(run, dataset, embedding, class_names)
