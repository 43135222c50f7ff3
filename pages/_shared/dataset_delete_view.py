"""Deleting an imported dataset on the Data page's "My images" view, after a confirmation.

Only the current workspace's datasets are offered (the data folder is per workspace).
Runs trained on a deleted dataset keep the description of it they recorded at launch,
so they are still listed and still open on Evaluate, Inside and Predict; what needs
the images themselves (evaluating again, the test images) says the dataset is gone.
A dataset a run or a learning-rate test is queued or training on is not deleted: it
reads the images.

The Delete and Cancel buttons act in callbacks, before the page is drawn again, so
the dataset lists on this run of the page already leave a deleted dataset out.
"""

from __future__ import annotations

import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.data.registry import all_datasets, dataset_title
from cnn_core.data.user.names import is_user_key
from cnn_core.data.user.store import delete_dataset
from cnn_core.insight.labels import markdown_text
from cnn_core.store.lr_tests import list_lr_tests
from cnn_core.store.runs import RunSummary, list_runs
from pages._shared.common import cached_dataset

PENDING = "myimg_delete_pending"  # the key waiting for "Yes, delete it"
OUTCOME = "myimg_delete_outcome"  # ("success" | "error", message) of the last attempt


def delete_section() -> None:
    """Pick one of this workspace's imported datasets, then delete it after a confirmation."""
    st.subheader("Delete an imported dataset")
    show_outcome()
    imported = {key: info for key, info in all_datasets().items() if is_user_key(key)}
    if not imported:
        st.caption("No imported datasets in this workspace.")
        return
    key = st.selectbox(
        "Dataset to delete",
        list(imported),
        format_func=lambda k: imported[k].title,
        key="myimg_delete_choice",
        on_change=cancel,  # another choice drops a confirmation asked for the last one
    )
    st.button("Delete…", key="myimg_delete", on_click=ask, args=(key,))
    pending = st.session_state.get(PENDING)
    if pending is not None:
        confirm(str(pending))


def ask(key: str) -> None:
    st.session_state[PENDING] = key
    st.session_state.pop(OUTCOME, None)


def confirm(key: str) -> None:
    """The confirmation step: what deleting `key` removes and what happens to its runs."""
    busy = busy_on(key)
    if busy:
        st.error(
            f"{markdown_text(dataset_title(key))} is in use: stop what is training on it first "
            f"({markdown_text(', '.join(busy))}), then delete it."
        )
        st.button("Cancel", key="myimg_delete_cancel", on_click=cancel)
        return
    st.warning(consequences(key, len(runs_on(key))))
    with st.container(horizontal=True):  # side by side, as wide as their labels
        st.button(
            "Yes, delete it",
            type="primary",
            key="myimg_delete_confirm",
            on_click=delete_pending,
            args=(key,),
        )
        st.button("Cancel", key="myimg_delete_cancel", on_click=cancel)


def consequences(key: str, n_runs: int) -> str:
    """What deleting `key` does, in words."""
    runs = (
        "No run of this workspace was trained on it."
        if n_runs == 0
        else f"{n_runs:,} run{'s' if n_runs != 1 else ''} of this workspace "
        f"{'were' if n_runs != 1 else 'was'} trained on it: they keep the description of "
        "the dataset they recorded (classes, image size), stay in the run list and still "
        "open on Evaluate, Inside and Predict; what needs the images (evaluating again, "
        "the test images) will say the dataset is gone."
    )
    return (
        f"Delete {markdown_text(dataset_title(key))} for good? Its stored images, its import "
        "report and any uploaded files are removed from this server; this cannot be undone. "
        f"{runs}"
    )


def runs_on(key: str) -> list[RunSummary]:
    """The current workspace's runs whose config names dataset `key`."""
    return [run for run in list_runs() if run.config is not None and run.config.dataset == key]


def busy_on(key: str) -> list[str]:
    """The runs and learning-rate tests queued or training on dataset `key` now."""
    runs = [label(run) for run in runs_on(key) if run.active]
    tests = [t for t in list_lr_tests() if t.active and t.config and t.config.dataset == key]
    return runs + ["a learning-rate test"] * bool(tests)


def label(run: RunSummary) -> str:
    return (run.config.name if run.config else "") or run.run_id


def delete_pending(key: str) -> None:
    """Delete `key` (button callback); the outcome is shown on the next draw."""
    st.session_state.pop(PENDING, None)
    if busy_on(key):  # started since the confirmation was drawn
        st.session_state[OUTCOME] = (
            "error",
            f"Nothing was deleted: {markdown_text(repr(key))} is in use.",
        )
        return
    try:
        title = dataset_title(key)
        delete_dataset(key)
    except UserError as error:
        st.session_state[OUTCOME] = ("error", f"Nothing was deleted: {markdown_text(str(error))}.")
        return
    cached_dataset.clear()  # a dataset imported again under this name is read afresh
    st.session_state[OUTCOME] = ("success", f"Deleted {markdown_text(title)}.")


def cancel() -> None:
    st.session_state.pop(PENDING, None)


def show_outcome() -> None:
    outcome = st.session_state.pop(OUTCOME, None)
    if outcome is None:
        return
    kind, message = outcome
    (st.success if kind == "success" else st.error)(message)
