"""Compare: any runs side by side: curves, settings and results, details of a few.

The selection lives in the URL (`?runs=<id>,<id>`), so a copied link opens the
same view; the table's multi-row selection writes it there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.charts.compare import curves_overlay_figure, per_class_figure, run_colours
from cnn_core.data.registry import dataset_title
from cnn_core.insight.compare.chosen_runs import listing_state, parse_run_ids, resolve_runs
from cnn_core.insight.compare.curves import Curves, group_curves, run_curves
from cnn_core.insight.compare.seed_groups import group_summaries
from cnn_core.insight.compare.side_by_side import (
    comparison_table,
    differences_only,
    histories_csv,
    parameter_counts,
    run_title,
    unique_titles,
)
from cnn_core.insight.inspection import (
    class_count,
    conv_layer_names,
    filter_weights,
    softmax_templates,
)
from cnn_core.insight.labels import class_names, format_duration, model_label, percent, run_row
from cnn_core.insight.run_filters import RunFilter, filter_choices
from cnn_core.schema.records import EpochRecord
from cnn_core.store.folder import runs_root
from cnn_core.store.runs import RunSummary, list_runs
from pages._shared.common import (
    CURRENT_RUN,
    cached_model,
    ensure_app_navigation,
    follow_choice,
    show_run_table,
)
from pages._shared.compare_actions import (
    NOTICE,
    RUNS_PARAM,
    compare_with_control,
    repeat_seeds_control,
)
from pages._shared.doctor_view import findings_badges, run_findings
from pages._shared.fast_recipe import reach_line
from pages._shared.figure_cache import confusion_chart, filter_grid
from pages._shared.image_by_image import disagreement_section
from pages._shared.loss_options import loss_view_ui

TABLE = "compare_table"
LISTED = "compare_listed_ids"  # the run ids of the table's rows, in order, at its last render
# What the page outside the polled fragment showed of the chosen runs (`listing_state`):
# the run table's state and epochs, the actions offered for finished runs.
SHOWN = "compare_shown_states"
POLL_SECONDS = 2.0
DETAIL_LIMIT = 3  # side-by-side details (matrices, filters) for up to this many runs


def url_ids() -> list[str]:
    return parse_run_ids(st.query_params.get(RUNS_PARAM))


def write_url_ids(ids: list[str]) -> None:
    if ids:
        st.query_params[RUNS_PARAM] = ",".join(ids)
    else:
        st.query_params.pop(RUNS_PARAM, None)


def on_table_select() -> None:
    """Put the table's selection into the URL, keeping chosen runs a filter hides."""
    listed = st.session_state.get(LISTED, [])
    rows = st.session_state[TABLE].selection.rows
    picked = [listed[i] for i in rows if 0 <= i < len(listed)]
    current = url_ids()
    kept = [i for i in current if i in picked or i not in listed]
    write_url_ids(kept + [i for i in picked if i not in kept])


def sync_table_selection(listed: list[str], chosen: list[str]) -> None:
    """Make the table show the URL's runs as selected (a link, a filter change)."""
    rows = [i for i, run_id in enumerate(listed) if run_id in chosen]
    state = st.session_state.get(TABLE)
    shown = list(state["selection"]["rows"]) if state is not None else []
    if shown != rows:  # only then: a push resets what the grid shows
        st.session_state[TABLE] = {"selection": {"rows": rows, "columns": []}}


def run_picker(runs: list[RunSummary], chosen: list[RunSummary]) -> None:
    """Filters and the multi-row selection table."""
    choices = filter_choices(runs)
    cols = st.columns(2)
    datasets = cols[0].multiselect(
        "Dataset",
        choices.datasets,
        format_func=dataset_title,
        key="compare_datasets",
        placeholder="any dataset",
    )
    models = cols[1].multiselect(
        "Model",
        choices.models,
        key="compare_models",
        placeholder="any model",
    )
    listed = RunFilter(datasets=frozenset(datasets), models=frozenset(models)).apply(runs)
    ids = [r.run_id for r in listed]
    st.session_state[LISTED] = ids
    sync_table_selection(ids, [r.run_id for r in chosen])
    rows = [run_row(r) | {"seed": r.config.seed if r.config else None} for r in listed]
    for row, run in zip(rows, listed, strict=True):
        row["group"] = run.config.group if run.config else ""
    show_run_table(
        rows,
        TABLE,
        columns=list(run_row(runs[0])) + ["seed", "group"],
        on_select=on_table_select,
        selection_mode="multi-row",
    )
    hidden = len(chosen) - sum(r.run_id in ids for r in chosen)
    note = f" ({hidden} of them hidden by the filters)" if hidden else ""
    st.caption(
        f"{len(chosen)} run(s) chosen{note}. Tick rows to add or remove runs; "
        "the page's address keeps the choice, so a copied link opens this view."
    )


def overlay_section(
    chosen: list[RunSummary], histories: list[list[EpochRecord]], colours: dict[str, str]
) -> None:
    cols = st.columns([1, 1, 2])
    x_axis = cols[0].radio(
        "x axis",
        ["epoch", "seconds"],
        format_func={"epoch": "Epochs", "seconds": "Wall-clock seconds"}.get,
        horizontal=True,
        key="compare_x",
    )
    as_groups = cols[1].toggle(
        "Seed groups as mean ± std",
        value=True,
        key="compare_groups",
        help="Runs of one seed group (two or more chosen) drawn as one mean line and a band.",
    )
    groups = group_summaries(chosen) if as_groups else []
    grouped = {run.run_id for group in groups for run in group.runs}
    curves: list[Curves] = []
    keys: list[str] = []
    history_of = {run.run_id: history for run, history in zip(chosen, histories, strict=True)}
    for group in groups:
        members = [history_of[run.run_id] for run in group.runs]
        curves.append(group_curves(group.label, members, x_axis))
        keys.append(group.group)
    titles = unique_titles([run_title(run) for run in chosen])
    for run, title in zip(chosen, titles, strict=True):
        if run.run_id not in grouped:
            curves.append(run_curves(title, history_of[run.run_id], x_axis))
            keys.append(run.run_id)
    with cols[2]:
        view = loss_view_ui("compare")  # log scale, smoothing
    figure = curves_overlay_figure(curves, [colours[k] for k in keys], x_axis, **view)
    st.plotly_chart(figure, key="compare_curves")
    if groups:
        groups_table(groups)


def groups_table(groups: list[Any]) -> None:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "seed group": group.label,
                    "seeds": ", ".join(map(str, group.seeds)),
                    "test accuracy (mean ± std)": group.test_text(),
                    "group id": group.group,
                }
                for group in groups
            ]
        ),
        hide_index=True,
        key="compare_group_table",
    )
    st.caption(
        "Mean ± sample standard deviation over the group's runs: a difference between "
        "models smaller than these spreads may be seed noise."
    )


def settings_section(chosen: list[RunSummary], histories: list[list[EpochRecord]]) -> None:
    st.subheader("Settings and results")
    titles, table = comparison_table(chosen, histories)
    if st.toggle("Differences only", key="compare_differences"):
        table = differences_only(table)
    frame = pd.DataFrame(list(table.values()), index=list(table), columns=titles)
    st.dataframe(frame, height="content", key="compare_settings")
    st.download_button(
        "Download the histories (CSV)",
        data=histories_csv(chosen, histories),
        file_name="cnn-studio-histories.csv",
        mime="text/csv",
        icon=":material/download:",
        key="compare_csv",
    )


def filter_bank(run: RunSummary) -> None:
    """The first conv layer's filters (input channel 0), or a softmax model's templates."""
    if not run.has_model:
        st.caption("No saved model yet.")
        return
    try:
        model = cached_model(str(run.model_path), run.model_version())
        layers = conv_layer_names(model)
        if layers:
            weights = filter_weights(model, layers[0], 0)
            figure = filter_grid(weights, f"{layers[0]}, input channel 0")
        else:
            names = class_names(run, class_count(model))
            figure = filter_grid(softmax_templates(model), "Class templates", names)
    except UserError as error:
        st.info(str(error))
        return
    st.plotly_chart(figure, key=f"compare_filters_{run.run_id}")


def details_section(chosen: list[RunSummary], colours: dict[str, str]) -> None:
    """Accuracy, time, parameters, per-class accuracy, confusion matrices and filters."""
    st.subheader("Side by side")
    titles = unique_titles([run_title(run) for run in chosen])
    evaluations = [run.read_evaluation() for run in chosen]
    columns = st.columns(len(chosen))
    runs = list_runs()  # this machine's runs, for each column's time to accuracy
    for col, run, title, evaluation in zip(columns, chosen, titles, evaluations, strict=True):
        with col:
            st.markdown(f"**{title}** · {model_label(run)}")
            counts = parameter_counts(run)
            seconds = run.status.train_seconds if run.status else None
            metrics = st.columns(3)
            metrics[0].metric("Test accuracy", percent(evaluation.accuracy if evaluation else None))
            metrics[1].metric("Training time", format_duration(seconds))
            metrics[2].metric(
                "Parameters",
                f"{counts[0]:,}" if counts else "?",
                help=f"{counts[1]:,} trainable" if counts else None,
            )
            if run.active:
                st.info("Still training: its results appear here when it finishes.")
            findings_badges(run_findings(run))
            reach_line(run, runs)
    evaluated = [(t, e, run) for t, e, run in zip(titles, evaluations, chosen, strict=True) if e]
    names = {e.class_names for _, e, _ in evaluated}
    if len(evaluated) >= 2 and len(names) == 1:
        st.plotly_chart(
            per_class_figure(
                list(evaluated[0][1].class_names),
                [e.per_class.recall for _, e, _ in evaluated],
                [t for t, _, _ in evaluated],
                [colours[run.run_id] for _, _, run in evaluated],
            ),
            key="compare_per_class",
        )
    columns = st.columns(len(chosen))
    runs = list_runs()  # this machine's runs, for each column's time to accuracy
    for col, run, title, evaluation in zip(columns, chosen, titles, evaluations, strict=True):
        with col:
            if evaluation:
                matrix = np.asarray(evaluation.confusion_matrix)
                st.plotly_chart(
                    confusion_chart(matrix, evaluation.class_names, title=title),
                    key=f"compare_matrix_{run.run_id}",
                )
            filter_bank(run)


def comparison_view(chosen_ids: list[str]) -> None:
    """Everything about the chosen runs (re-read on every rerun, polled while one trains)."""
    chosen, _ = resolve_runs(chosen_ids, list_runs())
    if not chosen:
        return
    if listing_state(chosen) != st.session_state.get(SHOWN):
        # A chosen run moved on (queued -> running, an epoch, finished): the run table
        # and the actions above and below this fragment show it too, and the poll
        # stops once none is active.
        st.rerun(scope="app")
    histories = [run.read_history() for run in chosen]
    groups = [run.config.group for run in chosen if run.config and run.config.group]
    colours = run_colours([run.run_id for run in chosen] + groups)  # one colour each, everywhere
    overlay_section(chosen, histories, colours)
    settings_section(chosen, histories)
    if len(chosen) <= DETAIL_LIMIT:
        details_section(chosen, colours)
    else:
        st.caption(f"Choose at most {DETAIL_LIMIT} runs to see their details side by side.")
    if len(chosen) >= 2:
        disagreement_section(chosen, unique_titles([run_title(run) for run in chosen]))


def actions_section(chosen: list[RunSummary]) -> None:
    st.subheader("Train more to compare")
    by_id = {run.run_id: run for run in chosen}
    current = st.session_state.get(CURRENT_RUN)
    start = current if current in by_id else chosen[0].run_id
    # Starts at the session's run when it is chosen; a base picked here stays this page's.
    follow_choice("compare_base", CURRENT_RUN, list(by_id), start)
    run_id = st.selectbox(
        "Starting from", list(by_id), format_func=lambda i: run_title(by_id[i]), key="compare_base"
    )
    compare_with_control(by_id[run_id], "compare")
    repeat_seeds_control(by_id[run_id], "compare")


def render_compare() -> None:
    st.title("Compare")
    if NOTICE in st.session_state:
        st.warning(st.session_state.pop(NOTICE))
    runs = list_runs()
    if not runs:
        st.info(
            f"No runs yet in `{runs_root()}`: train a few on the Train page, then compare them."
        )
        return
    ids = url_ids()
    chosen, unknown = resolve_runs(ids, runs)
    if unknown:
        st.warning(
            f"No run with the id {', '.join(f'`{i}`' for i in unknown)} in `{runs_root()}`: "
            "it was deleted, or the link comes from another machine. The other runs are shown."
        )
    run_picker(runs, chosen)
    if not chosen:
        st.info("Tick two or more runs in the table to compare them.")
        return
    active = any(run.active for run in chosen)
    st.session_state[SHOWN] = listing_state(chosen)
    st.fragment(comparison_view, run_every=POLL_SECONDS if active else None)(
        [run.run_id for run in chosen]
    )
    actions_section(chosen)


ensure_app_navigation()
render_compare()
