"""Data: a dataset's split sizes, sample images and class distribution."""

import numpy as np
import streamlit as st

from cnn_core.data.registry import Dataset, class_counts, split_indices
from cnn_core.data.user.names import is_user_key
from cnn_core.schema.config import split_problems, validation_size
from pages._shared.common import (
    dataset_picker,
    ensure_app_navigation,
    require_dataset,
    validation_size_input,
)
from pages._shared.dataset_delete_view import delete_section
from pages._shared.figure_cache import distribution_chart, image_tiles
from pages._shared.my_images import import_section, report_section

MODES = ("Datasets", "My images: add a folder or zip")
SAMPLE_COLUMNS = 10
SAMPLE_ROWS = 3


def render_data() -> None:
    st.title("Data")
    mode = st.radio("Show", MODES, horizontal=True, key="data_mode", label_visibility="collapsed")
    if mode == MODES[1]:
        import_section()
        st.divider()
        delete_section()
        return
    key = dataset_picker("data_dataset")
    dataset = require_dataset(key)
    info = dataset.info
    n_train = len(dataset.y_train)
    st.caption(
        f"{info.title}: {info.image_shape[0]}x{info.image_shape[1]} pixels, "
        f"{info.image_shape[2]} channel(s), {len(info.class_names)} classes. "
        f"Files: `{dataset.source}`"
    )

    with st.sidebar:
        st.subheader("Split")
        validation = validation_size_input("data", n_train, key)
        seed = int(st.number_input("Shuffle seed", value=42, step=1, key="data_seed"))
    problems = split_problems(validation, n_train)
    if problems:
        st.error("Fix the validation size:\n\n" + "\n".join(f"- {p}" for p in problems))
        st.stop()
    n_val = validation_size(validation, n_train)
    train_idx, val_idx = split_indices(dataset.y_train, n_val, seed)

    cols = st.columns(3)
    cols[0].metric("Training images", f"{len(train_idx):,}")
    cols[1].metric("Validation images", f"{len(val_idx):,}")
    cols[2].metric("Test images", f"{len(dataset.y_test):,}")
    if n_train < info.n_train:
        st.info(f"This copy holds {n_train:,} of the usual {info.n_train:,} training images.")

    samples_section(dataset)

    st.subheader("Class distribution")
    n_classes = len(info.class_names)
    counts = {
        "train": class_counts(dataset.y_train[train_idx], n_classes),
        "validation": class_counts(dataset.y_train[val_idx], n_classes),
        "test": class_counts(dataset.y_test, n_classes),
    }
    st.plotly_chart(distribution_chart(counts, info.class_names), key="data_dist")
    if is_user_key(key):
        st.divider()
        st.header("Import report")
        report_section(key)


def samples_section(dataset: Dataset) -> None:
    """A grid of random training images with their class, reshuffled on request."""
    st.subheader("Samples")
    info, n_train = dataset.info, len(dataset.y_train)
    shuffle = st.button("Show other samples", key="data_shuffle")
    if shuffle:
        st.session_state["data_sample_seed"] = st.session_state.get("data_sample_seed", 0) + 1
    rng = np.random.default_rng(st.session_state.get("data_sample_seed", 0))
    n_samples = min(n_train, SAMPLE_COLUMNS * SAMPLE_ROWS)  # small imported sets have fewer
    picks = rng.choice(n_train, n_samples, replace=False)
    tiles = image_tiles(dataset.x_train[picks], scale=max(1, 84 // info.image_shape[0]))
    captions = [info.class_names[y] for y in dataset.y_train[picks]]
    for row in range(SAMPLE_ROWS):
        cols = st.columns(SAMPLE_COLUMNS)
        for col, i in zip(
            cols, range(row * SAMPLE_COLUMNS, (row + 1) * SAMPLE_COLUMNS), strict=True
        ):
            if i < n_samples:
                col.image(tiles[i], caption=captions[i])


ensure_app_navigation()
render_data()
