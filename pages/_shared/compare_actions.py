"""One-click comparisons, shared by the Train and Compare pages.

"Compare with another model" queues the same dataset, split and seed with a
model from `cnn_core.insight.compare.partners.ALTERNATIVES`; "Repeat over seeds" queues a seed
group. Both go through `launch_run` (the queue and concurrency limits) and open
the Compare page on the new runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.insight.compare.partners import (
    alternatives_for,
    alternatives_without_weights,
    paired_config,
)
from cnn_core.insight.compare.seed_groups import GROUP_SIZE_RANGE, launch_all, seed_group
from cnn_core.insight.compare.side_by_side import run_title
from cnn_core.models.vgg16_weights import weights_problem
from cnn_core.store.runs import RunSummary
from cnn_core.training.worker import launch_run
from pages._shared.common import COMPARE_PAGE, RUNS_PARAM

NOTICE = "compare_notice"  # a message for the Compare page to show once after a switch


def open_comparison(run_ids: Sequence[str]) -> None:
    """Switch to the Compare page showing `run_ids` (never returns)."""
    st.switch_page(COMPARE_PAGE.path, query_params={RUNS_PARAM: ",".join(run_ids)})


def compare_with_control(run: RunSummary, prefix: str) -> None:
    """A chooser of other models and a button that trains one on the same split and seed."""
    if run.config is None or not run.state.final:
        return
    choices = alternatives_for(run.config)
    missing = alternatives_without_weights(run.config)
    if missing:
        st.caption(
            f"Not offered: {', '.join(missing)}. The ImageNet weights are not on this "
            "machine: download them on the Train page (Pretrained VGG16) first."
        )
    if not choices:
        return
    cols = st.columns([3, 2], vertical_alignment="bottom")
    label = cols[0].selectbox(
        "Compare with another model (same dataset, split and seed)",
        choices,
        key=f"{prefix}_compare_choice",
    )
    if not cols[1].button(
        "Train it and compare", icon=COMPARE_PAGE.icon, key=f"{prefix}_compare_go"
    ):
        return
    try:
        partner = paired_config(run.config, label, run_title(run))
        vgg = partner.model.vgg16
        if vgg is not None and weights_problem(vgg):  # the worker never downloads
            st.warning(
                f"{weights_problem(vgg)} Get them on the Train page (Pretrained VGG16), "
                "then come back."
            )
            return
        folder, _ = launch_run(partner)
    except UserError as error:
        st.error(str(error))
        return
    open_comparison([run.run_id, folder.run_id])


def repeat_seeds_control(run: RunSummary, prefix: str) -> None:
    """How many seeds, and a button that queues the run's configuration once per seed."""
    if run.config is None:
        return
    low, high = GROUP_SIZE_RANGE
    cols = st.columns([3, 2], vertical_alignment="bottom")
    n = cols[0].number_input(
        f"Repeat over seeds ({low}-{high} runs, seeds {run.config.seed} and up)",
        min_value=low,
        max_value=high,
        value=3,
        step=1,
        key=f"{prefix}_seed_count",
    )
    if not cols[1].button(
        "Queue the seed group", icon=":material/repeat:", key=f"{prefix}_seed_go"
    ):
        return
    try:
        folders, problem = launch_all(seed_group(run.config, int(n)), launch_run)
    except UserError as error:
        st.error(str(error))
        return
    if not folders:
        st.error(problem)
        return
    if problem:
        st.session_state[NOTICE] = problem
    open_comparison([folder.run_id for folder in folders])
