"""Streamlit helpers shared by the pages: cached loading and shared widgets.

Not a page: ``pages/_shared/`` is a package of page helpers, out of reach of
Streamlit's legacy ``pages/`` listing (which takes only ``pages/*.py``).
Pages render; these helpers only read widgets, cache, and show messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from cnn_core.data import (
    Dataset,
    DatasetMissing,
    all_datasets,
    dataset_info,
    find_local,
    load_dataset,
)
from cnn_core.errors import UserError
from cnn_core.formatting import run_label
from cnn_core.models import load_trained_model
from cnn_core.runs import RunSummary, model_runs

CHOSEN_DATASET = "chosen_dataset"  # survives page changes (widget keys do not)
NAVIGATION_CHECKED = "navigation_checked"


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=2)
def cached_dataset(key: str, location: str, download: bool = False) -> Dataset:
    """The dataset, read once per server process and location (arrays are never modified).

    `location` (where the files are now) is part of the cache key, so files put in
    place or removed while the app runs are noticed.
    """
    return load_dataset(key, download=download)


def require_dataset(key: str) -> Dataset:
    """The dataset, or a clear message (with a download button) and `st.stop()`."""
    try:
        return cached_dataset(key, str(find_local(dataset_info(key))))
    except DatasetMissing as missing:
        st.warning(str(missing))
        if st.button("Download it now through Keras", key=f"download_{key}"):
            try:
                with st.spinner("Downloading…"):
                    return cached_dataset(key, "download", download=True)
            except UserError as error:
                st.error(str(error))
        st.stop()
    except UserError as error:
        st.error(str(error))
        st.stop()


def dataset_picker(key: str) -> str:
    """A dataset selectbox whose choice carries over to the other pages."""
    datasets = all_datasets()  # built-in, then the user's imported images
    keys = list(datasets)
    chosen = st.session_state.get(CHOSEN_DATASET, keys[0])

    def remember() -> None:
        st.session_state[CHOSEN_DATASET] = st.session_state[key]

    return st.selectbox(
        "Dataset",
        keys,
        index=keys.index(chosen) if chosen in keys else 0,
        format_func=lambda k: datasets[k].title,
        key=key,
        on_change=remember,
    )


def validation_size_input(prefix: str, n_train: int) -> float | int:
    """Validation size as a fraction (< 1) or a count of training images."""
    mode = st.radio(
        "Validation size as",
        ["fraction", "count"],
        horizontal=True,
        key=f"{prefix}_val_mode",
    )
    if mode == "fraction":
        return st.number_input(
            "Validation fraction",
            value=0.1,
            step=0.05,
            format="%.2f",
            key=f"{prefix}_val_fraction",
            help="Share of the training images held out to watch for overfitting (0.01-0.5).",
        )
    return int(
        st.number_input(
            "Validation images",
            value=min(5000, max(1, n_train // 10)),
            step=500,
            key=f"{prefix}_val_count",
            help=f"How many of the {n_train:,} training images to hold out.",
        )
    )


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def cached_model(model_path: str, mtime: float) -> Any:
    """A run's Keras model, loaded once per file version (`mtime` is in the key)."""
    return load_trained_model(Path(model_path))


def require_model(run: RunSummary) -> Any:
    """The run's model, or a clear message and `st.stop()`."""
    try:
        return cached_model(str(run.model_path), run.model_version())
    except UserError as error:
        st.error(str(error))
        st.stop()


def model_run_picker(
    key: str, label: str = "Model", prefer_dataset: str | None = None
) -> RunSummary:
    """Choose one of the runs that have a model (starter models included).

    Defaults to the most accurate run on `prefer_dataset` when given, else the newest.
    """
    choices = model_runs()
    if not choices:
        st.info("No trained model yet: train one on the Train page.")
        st.stop()
    preferred = [r for r in choices if r.config and r.config.dataset == prefer_dataset]
    default = max(preferred, key=lambda r: r.test_accuracy or 0.0) if preferred else choices[0]
    by_id = {r.run_id: r for r in choices}
    ids = list(by_id)
    run_id = st.selectbox(
        label,
        ids,
        index=ids.index(default.run_id),
        format_func=lambda i: ("⭐ starter · " if by_id[i].starter else "") + run_label(by_id[i]),
        key=key,
    )
    return by_id[run_id]


def ensure_app_navigation() -> None:
    """Make a deep link on a freshly started server go through app.py.

    Until some session has run app.py's `st.navigation`, Streamlit 1.67 treats a
    folder named `pages/` as a legacy multipage app: opening e.g. `/train` first
    runs pages/train.py alone, without the app's navigation, page config or
    TensorFlow settings. Switching that mode off and rerunning sends the request
    through app.py, which resolves the same URL to the same page. Only a session's
    first run may rerun (a rerun drops a button click; AppTest re-enters the legacy
    mode on every run). tests/test_navigation.py fails when a Streamlit upgrade
    changes the behaviour this patches.
    """
    from streamlit.runtime.pages_manager import PagesManager

    first_run = not st.session_state.get(NAVIGATION_CHECKED, False)
    st.session_state[NAVIGATION_CHECKED] = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if first_run:
            st.rerun()
