"""Streamlit helpers shared by the pages: cached loading and shared widgets.

Not a page: ``pages/_shared/`` is a package of page helpers, out of reach of
Streamlit's legacy ``pages/`` listing (which takes only ``pages/*.py``).
Pages render; these helpers only read widgets, cache, and show messages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.data.registry import (
    Dataset,
    DatasetMissing,
    all_datasets,
    dataset_info,
    dataset_title,
    find_dataset,
    find_local,
    load_dataset,
)
from cnn_core.data.user.store import validation_share
from cnn_core.insight.labels import PERCENT_COLUMNS, percent, run_label
from cnn_core.models.cnn import load_trained_model
from cnn_core.schema.config import TrainConfig
from cnn_core.store import access
from cnn_core.store.access import model_runs
from cnn_core.store.folder import RUN_ID_PATTERN
from cnn_core.store.runs import RunSummary
from pages._shared.page_registry import page
from pages._shared.workspace_session import WORKSPACE_CHOSEN_BY_APP, use_workspace

CHOSEN_DATASET = "chosen_dataset"  # the dataset this session works on: it follows across pages
NAVIGATION_CHECKED = "navigation_checked"
RUN_PARAM = "run"  # the URL query parameter naming a page's run: /evaluate?run=<id>
LINKED = "_linked"  # suffix of the session key remembering the run last put in the URL
CURRENT_RUN = "current_run"  # the run this session is looking at: it follows across pages
RUNS_PARAM = "runs"  # ?runs=<id>,<id>: the Compare page's selection
RUN_PAGES = (  # the pages that show one run with a model
    page("pages/evaluate.py"),
    page("pages/inside.py"),
    page("pages/predict.py"),
)
COMPARE_PAGE = page("pages/compare.py")


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


def optional_dataset(key: str, purpose: str) -> Dataset | None:
    """The dataset when it is on this server, else None after saying what is missing.

    For pages that can go on without it (another workspace's run on its own images,
    a bundle from a server with other data): `purpose` says what needs it.
    """
    info = find_dataset(key)
    if info is None:
        st.info(f"{dataset_title(key)} is not available here, so {purpose}.")
        return None
    try:
        return cached_dataset(key, str(find_local(info)))
    except UserError as error:
        st.info(f"{error} So {purpose}.")
        return None


def follow_choice(key: str, shared: str, options: list[str], start: str) -> Callable[[], None]:
    """The one way a choice follows a person from page to page.

    Streamlit drops a widget's key when its page is left; the session key `shared`
    (`CHOSEN_DATASET`, `CURRENT_RUN`) outlives it. On arrival, or when the widget's
    value is no longer among `options`, widget `key` starts at `start` (the caller's
    pick, usually the shared choice); give the returned callback to the widget as
    `on_change`, so a choice there becomes the shared one. (A page's own form values
    stay with `persist_state="session"` instead: they belong to one widget.)
    """
    if st.session_state.get(key) not in options:
        st.session_state[key] = start  # before the widget is drawn: allowed

    def remember() -> None:
        st.session_state[shared] = st.session_state[key]

    return remember


def dataset_picker(key: str) -> str:
    """A dataset selectbox whose choice carries over to the other pages."""
    datasets = all_datasets()  # built-in, then the user's imported images
    keys = list(datasets)
    chosen = st.session_state.get(CHOSEN_DATASET)
    remember = follow_choice(key, CHOSEN_DATASET, keys, chosen if chosen in keys else keys[0])
    return st.selectbox(
        "Dataset", keys, format_func=lambda k: datasets[k].title, key=key, on_change=remember
    )


def count_columns(*names: str) -> dict[str, Any]:
    """`column_config` showing counts with thousands separators ("1,000", as the
    metrics and captions write them; Streamlit's default prints "1000")."""
    return {name: st.column_config.NumberColumn(format="localized") for name in names}


MISSING = "–"  # what a table cell without a value shows (Streamlit would write "None")


def run_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> Any:
    """A table of `formatting.run_row` rows for `show_run_table`: accuracies shown as
    '89.98%'; the columns still sort by their numbers."""
    frame = pd.DataFrame(rows, columns=columns)
    shown = [name for name in PERCENT_COLUMNS if name in frame.columns]
    frame[shown] = frame[shown].astype(float)
    return frame.style.format(percent, subset=shown, na_rep=MISSING)


def show_run_table(
    rows: list[dict[str, Any]], key: str, columns: list[str] | None = None, **options: Any
) -> Any:
    """`st.dataframe` of run rows (see `run_table`), missing values as '–'."""
    return st.dataframe(
        run_table(rows, columns), hide_index=True, placeholder=MISSING, key=key, **options
    )


def validation_size_input(prefix: str, n_train: int, dataset: str = "") -> float | int:
    """Validation size as a fraction (< 1) or a count of training images.

    The fraction starts at the dataset's own share (the one chosen when it was
    imported, `cnn_core.data.user.store.validation_share`), else TrainConfig's default, and
    starts there again whenever the dataset changes.
    """
    own = validation_share(dataset)
    default = own or TrainConfig.validation
    fraction_key, for_key = f"{prefix}_val_fraction", f"{prefix}_val_default_for"
    if st.session_state.get(for_key) != (dataset, default):
        st.session_state[fraction_key] = default  # before the widget: allowed
        st.session_state[for_key] = (dataset, default)
    mode = st.radio(
        "Validation size as",
        ["fraction", "count"],
        horizontal=True,
        key=f"{prefix}_val_mode",
        persist_state="session",
    )
    if mode == "fraction":
        since = f"; it starts at {own:.2f}, the share chosen when it was imported" if own else ""
        return st.number_input(
            "Validation fraction",
            step=0.05,
            format="%.2f",
            key=fraction_key,
            persist_state="session",
            help=f"Share of the training images held out to watch for overfitting "
            f"(0.01-0.5){since}.",
        )
    return int(
        st.number_input(
            "Validation images",
            value=min(5000, max(1, round(n_train * default))),
            step=500,
            key=f"{prefix}_val_count",
            persist_state="session",
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

    The choice is the page's `?run=<id>` URL query parameter both ways, so a copied
    link opens the same run (other query parameters are kept). A page opened
    without one shows the session's current run (`CURRENT_RUN`: the last one a
    link or a choice on any page named), else the most accurate run on
    `prefer_dataset` when given, else the newest. A link or a choice here becomes
    the session's current run.
    """
    choices = model_runs()
    if not choices:
        st.info("No trained model yet: train one on the Train page.")
        st.stop()
    preferred = [r for r in choices if r.config and r.config.dataset == prefer_dataset]
    default = max(preferred, key=lambda r: r.test_accuracy or 0.0) if preferred else choices[0]
    by_id = {r.run_id: r for r in choices}
    ids = list(by_id)
    link = st.query_params.get(RUN_PARAM)
    arrived = key not in st.session_state  # the page was just opened (widget keys are dropped)
    if link is not None and (arrived or link != st.session_state.get(f"{key}{LINKED}")):
        if link in by_id:
            st.session_state[key] = link  # a link (or an edited URL) chooses the run
            st.session_state[CURRENT_RUN] = link
        else:
            st.warning(link_problem(link))
    current = st.session_state.get(CURRENT_RUN)
    start = current if current in by_id else default.run_id
    remember = follow_choice(key, CURRENT_RUN, ids, start)
    run_id = st.selectbox(
        label,
        ids,
        format_func=lambda i: ("starter · " if by_id[i].starter else "") + run_label(by_id[i]),
        key=key,
        on_change=remember,
    )
    st.query_params[RUN_PARAM] = st.session_state[f"{key}{LINKED}"] = run_id
    return by_id[run_id]


def run_page_links(run: RunSummary, compare: bool = False) -> None:
    """Links that open `run` on each page that shows one run (and on Compare when
    `compare`), in a row; other query parameters (a workspace's `?ws=`) are kept."""
    kept = {k: v for k, v in st.query_params.to_dict().items() if k not in (RUN_PARAM, RUNS_PARAM)}
    links = [(entry, {**kept, RUN_PARAM: run.run_id}) for entry in RUN_PAGES]
    if compare:
        links.append((COMPARE_PAGE, {**kept, RUNS_PARAM: run.run_id}))
    # A wrapping row of links as wide as their labels: equal columns cut "Inside the CNN"
    # short in the Runs page's narrow column.
    with st.container(horizontal=True, gap="medium"):
        for entry, params in links:
            st.page_link(entry.path, label=entry.title, icon=entry.icon, query_params=params)


def link_problem(link: str) -> str:
    """What to tell someone whose link names a run this page cannot show (the workspace
    gate says whether the run is visible here at all)."""
    shown = link if len(link) <= 80 else link[:80] + "…"
    if not RUN_ID_PATTERN.match(link):
        return f"The link's run id {shown!r} is not a valid run id: showing another run."
    try:
        run = access.readable_run(link)
    except UserError:
        return (
            f"The link's run `{shown}` is not here (deleted, from another workspace or "
            "another deployment): showing another run."
        )
    why = "is still training" if run.active else "has no saved model"
    return f"The link's run `{shown}` {why}: showing another run."


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
    if not st.session_state.pop(WORKSPACE_CHOSEN_BY_APP, False):
        use_workspace()  # a page opened alone (AppTest, or before app.py's first run)
