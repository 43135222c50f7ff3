"""The learning-rate finder on the Train page: its cost, the job, its curve, "Use this rate".

`cnn_core.training.lr_finder` computes; the range test runs as a short job of the
worker process (`cnn_core.training.worker.launch_lr_test`), so the server never blocks.
While it runs, a fragment polls its progress; once it has ended, the page
redraws once and shows the curve. "Use this rate" fills the form's learning
rate through an on_click callback (the rate input is drawn earlier in the run,
and Streamlit refuses writes to a drawn widget's key).
"""

from __future__ import annotations

import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.charts.lr_finder import lr_finder_figure
from cnn_core.data.registry import Dataset
from cnn_core.insight.labels import format_duration
from cnn_core.models.plan import describe_model
from cnn_core.schema.config import ConfigError, TrainConfig, validate, validation_count
from cnn_core.schema.records import RunState
from cnn_core.store import access
from cnn_core.store.folder import LrTestFolder
from cnn_core.store.lr_tests import list_lr_tests, lr_test_folder
from cnn_core.store.runs import RunSummary, load_run
from cnn_core.training.lr_finder import (
    STARTUP_S,
    estimate_seconds,
    plan_range_test,
    range_test_config,
    read_result,
    unsupported_reason,
)
from cnn_core.training.worker import launch_lr_test

TEST = "lrfind_test"  # session: the id of this session's latest range test
RATE_KEY = "train_lr"  # the Train form's learning-rate input
POLL_SECONDS = 1.0


def problems_text(error: ConfigError, doing: str) -> str:
    """The validator's problems as the Train form lists them."""
    return f"Fix these settings before {doing}:\n\n" + "\n".join(f"- {p}" for p in error.problems)


def cost_text(config: TrainConfig, dataset: Dataset) -> str:
    """What the test will cost, said before it starts."""
    info = dataset.info
    n_train = (config.train_subset or len(dataset.y_train)) - validation_count(
        config, len(dataset.y_train)
    )
    plan = plan_range_test(n_train, config.fit.batch_size)
    rows = describe_model(config.model, info.image_shape, len(info.class_names), config.augment)
    seconds = estimate_seconds(rows, plan)
    return (
        f"Trains a fresh copy of this model on at most {plan.steps} batches of "
        f"{plan.batch_size} images while the rate grows from {plan.start_rate:g} to "
        f"{plan.end_rate:g}: about {format_duration(seconds)}, plus up to ~{STARTUP_S:.0f} s to "
        "start TensorFlow. It stops early once the loss diverges."
    )


def lr_finder_section(config: TrainConfig, dataset: Dataset) -> None:
    """The finder's control, progress and result, for the form's current config."""
    test_id = st.session_state.get(TEST) or remembered_test(config)
    # Closed until used: the batch size and epochs stay next to the rate input.
    with st.expander("Find a learning rate", icon=":material/query_stats:", expanded=bool(test_id)):
        if why := unsupported_reason(config):
            st.info(why)
            return
        try:
            validate(config, dataset.info.image_shape, len(dataset.y_train))
        except ConfigError:
            st.caption("The settings have problems (listed below the form): fix them first.")
            st.button("Find a learning rate", disabled=True, key="lrfind_start")
            return
        st.caption(cost_text(config, dataset))
        if st.button("Find a learning rate", icon=":material/query_stats:", key="lrfind_start"):
            start_test(config)
        if test_id := st.session_state.get(TEST) or test_id:  # the click just now, too
            test_view(test_id, config)


def remembered_test(config: TrainConfig) -> str | None:
    """The newest finished test of exactly this setup in the workspace (after a page
    refresh, or from another visit), or None."""
    wanted = range_test_config(config)
    for test in list_lr_tests():
        if test.state == RunState.COMPLETED and test.config == wanted:
            return test.run_id
    return None


def start_test(config: TrainConfig) -> None:
    """Launch the range test (or find this workspace's running one)."""
    try:
        folder, _ = launch_lr_test(config)
    except ConfigError as error:
        st.error(problems_text(error, "finding a rate"))
        return
    except UserError as error:
        st.error(str(error))
        return
    st.session_state[TEST] = folder.run_id


def test_view(test_id: str, config: TrainConfig) -> None:
    """The session's latest test: progress while it runs, else its outcome."""
    try:
        folder = lr_test_folder(test_id)
    except UserError:
        folder = None
    if folder is None or not folder.path.is_dir():  # deleted, or another workspace's id
        st.session_state.pop(TEST, None)
        return
    test = load_run(folder.path)
    if test.active:
        st.fragment(progress_view, run_every=POLL_SECONDS)(test_id)
    else:
        outcome_view(test, config)


def progress_view(test_id: str) -> None:
    """The running test's progress bar and Cancel; one full redraw when it ends."""
    folder = lr_test_folder(test_id)
    test = load_run(folder.path)
    if not test.active:
        st.rerun()
    progress = folder.read_progress() if test.state == RunState.RUNNING else None
    if test.state == RunState.QUEUED:
        st.progress(0.0, text="Starting (one learning-rate test runs at a time)…")
    elif progress is None:
        st.progress(0.0, text="Loading data and building the model…")
    else:
        st.progress(
            progress.fraction,
            text=f"Batch {progress.batch}/{progress.batches} · elapsed "
            f"{format_duration(progress.elapsed)}",
        )
    if st.button("Cancel", icon=":material/stop:", key="lrfind_cancel"):
        access.request_stop(folder)


def outcome_view(test: RunSummary, config: TrainConfig) -> None:
    """A finished test's curve and suggestion, or why there is none."""
    if test.state == RunState.FAILED:
        st.error(f"The learning-rate test failed: {test.message}")
        return
    if test.state in (RunState.INTERRUPTED, RunState.BROKEN):
        st.warning(
            "The learning-rate test was interrupted: its worker process ended before "
            "finishing (killed, or out of memory). Run it again."
        )
        return
    result = read_result(LrTestFolder(test.path))
    if test.state == RunState.STOPPED:
        st.info("The learning-rate test was cancelled. Start it again to see the curve.")
        return
    if result is None:
        st.error("The learning-rate test ended without a readable result. Run it again.")
        return
    st.plotly_chart(lr_finder_figure(result), key="lrfind_chart")
    diverged = result.stop_reason == "diverged"
    how = "stopped when the loss diverged" if diverged else "ran the whole range"
    st.caption(
        f"Dots: each batch's loss; line: smoothed. {len(result.rates)} batches in "
        f"{format_duration(result.seconds)}, {how}."
    )
    if test.config != range_test_config(config):
        st.caption("The model, data or batch size changed since: run the finder again.")
    suggestion = result.suggestion
    if suggestion is None:
        st.warning(
            "The loss did not fall at any rate tried: the model does not learn here. "
            "Check the data and the model before choosing a rate."
        )
        return
    st.markdown(
        f"Suggested rate **{suggestion.rate:g}** ({suggestion.method}; the smoothed loss "
        f"was lowest at {suggestion.minimum_rate:.2g})."
    )
    st.button(
        "Use this rate",
        icon=":material/check:",
        key="lrfind_use",
        on_click=use_rate,
        args=(suggestion.rate,),
        disabled=st.session_state.get(RATE_KEY) == suggestion.rate,
    )


def use_rate(rate: float) -> None:
    """on_click: put `rate` into the form's learning-rate input before it is drawn."""
    st.session_state[RATE_KEY] = rate
