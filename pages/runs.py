"""Runs: find, describe, download, share, import and delete runs.

Renders only: the run store (`cnn_core.store.runs`) renames, tags and deletes;
`cnn_core.sharing.bundles` packs and checks bundles; `cnn_core.sharing.export` converts to
TensorFlow Lite. TensorFlow is imported only for the TensorFlow Lite export.
"""

from __future__ import annotations

import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import BUNDLE_MB
from cnn_core.data.registry import dataset_title
from cnn_core.insight.labels import (
    MIRROR_EXPORT_CAPTION,
    STATE_LABELS,
    markdown_text,
    no_model_text,
    run_badge,
    run_label,
    run_row,
)
from cnn_core.insight.run_filters import RunFilter, filter_choices
from cnn_core.schema.config import MAX_NAME_CHARS
from cnn_core.schema.records import RunNotes, RunState
from cnn_core.sharing.bundles import bundle_file_name, export_bundle, import_bundle
from cnn_core.store import access
from cnn_core.store.access import delete_run
from cnn_core.store.folder import RUN_ID_PATTERN
from cnn_core.store.runs import RunSummary, list_runs
from pages._shared.common import (
    RUN_PARAM,
    ensure_app_navigation,
    optional_dataset,
    require_model,
    run_page_links,
    show_run_table,
)

SELECTED = "runs_selected"
CONFIRM_DELETE = "runs_confirm_delete"  # the run id whose deletion awaits a yes
TFLITE = "runs_tflite"  # {(run id, model version): TfliteExport}
IMPORTED = "runs_imported"  # the id of the run the last import created
SELECT_NEXT = "runs_select_next"  # a run id to select on the next run (set after the picker)
PARITY_IMAGES = 64


def filters(runs: list[RunSummary]) -> RunFilter:
    """Four multiselects; an empty one lets everything through."""
    choices = filter_choices(runs)
    cols = st.columns(4)
    datasets = cols[0].multiselect(
        "Dataset",
        choices.datasets,
        format_func=dataset_title,
        key="runs_filter_dataset",
    )
    models = cols[1].multiselect("Model", choices.models, key="runs_filter_model")
    tags = cols[2].multiselect("Tag", choices.tags, key="runs_filter_tag")
    states = cols[3].multiselect(
        "State", choices.states, format_func=STATE_LABELS.get, key="runs_filter_state"
    )
    return RunFilter(frozenset(datasets), frozenset(models), frozenset(tags), frozenset(states))


def runs_table(runs: list[RunSummary]) -> None:
    rows = [{**run_row(r), "tags": ", ".join(r.notes.tags)} for r in runs]
    show_run_table(rows, "runs_table")


def pick_run(runs: list[RunSummary]) -> RunSummary:
    """The run to manage: the `?run=` link's on arrival, else the last choice or the newest."""
    by_id = {r.run_id: r for r in runs}
    link = st.query_params.get(RUN_PARAM)
    if SELECTED not in st.session_state and link in by_id:
        st.session_state[SELECTED] = link
    if st.session_state.get(SELECT_NEXT) in by_id:
        st.session_state[SELECTED] = st.session_state.pop(SELECT_NEXT)
    if st.session_state.get(SELECTED) not in by_id:
        st.session_state[SELECTED] = runs[0].run_id
    run_id = st.selectbox(
        "Run", list(by_id), format_func=lambda i: run_label(by_id[i]), key=SELECTED
    )
    st.query_params[RUN_PARAM] = run_id
    return by_id[run_id]


def describe_form(run: RunSummary) -> None:
    """Name, tags and notes, saved together."""
    with st.form(key=f"runs_describe_{run.run_id}", border=True):
        name = st.text_input(
            "Name", value=run.config.name, max_chars=MAX_NAME_CHARS, key=f"runs_name_{run.run_id}"
        )
        tags = st.text_input(
            "Tags (comma-separated)",
            value=", ".join(run.notes.tags),
            key=f"runs_tags_{run.run_id}",
            help="Up to 12 short words, e.g. baseline, lr-sweep.",
        )
        text = st.text_area(
            "Notes", value=run.notes.text, height=100, key=f"runs_notes_{run.run_id}"
        )
        if not st.form_submit_button("Save", icon=":material/save:", key="runs_save"):
            return
    try:
        notes = RunNotes.create(tags.split(","), text, run.notes.imported_from)
        access.rename_run(run, name)
        access.save_notes(run, notes)
    except UserError as error:
        st.error(str(error))
        return
    st.toast("Saved")
    st.rerun()


def open_links(run: RunSummary) -> None:
    """Links to the pages that show this run (other query parameters kept)."""
    if not run.has_model or run.active:
        return
    run_page_links(run)


def downloads(run: RunSummary) -> None:
    """The model (.keras, .tflite) and the whole run as a bundle."""
    if not run.has_model or run.active or run.state == RunState.BROKEN:
        st.caption("Downloads are offered once the run has ended with a saved model.")
        return
    row = st.container(horizontal=True)  # wraps; each button as wide as its label
    row.download_button(
        "Model (.keras)",
        data=run.model_path.read_bytes,
        file_name=f"{run.run_id}.keras",
        mime="application/zip",
        icon=":material/download:",
        on_click="ignore",
        key="runs_download_keras",
    )
    row.download_button(
        "Whole run (bundle .zip)",
        data=lambda: export_bundle(run),
        file_name=bundle_file_name(run.run_id),
        mime="application/zip",
        icon=":material/folder_zip:",
        on_click="ignore",
        key="runs_download_bundle",
        help="Config, metrics, evaluation, predictions, model and notes: import it on "
        "any CNN Studio.",
    )
    if run.mirror_average:
        st.caption(MIRROR_EXPORT_CAPTION)
    tflite_section(run)


def tflite_section(run: RunSummary) -> None:
    """Convert on demand, check against Keras on test images, then offer the file."""
    cache_key = (run.run_id, run.model_version())
    results = st.session_state.setdefault(TFLITE, {})
    if cache_key not in results:
        if st.button(
            "Convert to TensorFlow Lite",
            icon=":material/phone_android:",
            key="runs_tflite_convert",
            help="For mobile and embedded apps; checked against the Keras model first.",
        ):
            from cnn_core.sharing.export import to_tflite

            model = require_model(run)
            dataset = optional_dataset(run.config.dataset, "the conversion cannot be checked")
            if dataset is None:
                return
            images = dataset.x_test[:PARITY_IMAGES]
            with st.spinner("Converting and checking on test images…"):
                try:
                    results[cache_key] = to_tflite(model, images)
                except UserError as error:
                    st.error(str(error))
                    return
        else:
            return
    export = results[cache_key]
    check = (
        f"Checked on {export.n_images} test images: largest difference in a class "
        f"probability {export.max_difference:.2e}, same top class on {export.agree:.0%}."
    )
    if export.ok:
        st.caption(f":material/check_circle: {check}")
    else:
        st.warning(f"The converted model does not match the Keras model closely. {check}")
    st.download_button(
        "Model (.tflite)",
        data=export.content,
        file_name=f"{run.run_id}.tflite",
        mime="application/octet-stream",
        icon=":material/download:",
        on_click="ignore",
        key="runs_download_tflite",
    )


def delete_section(run: RunSummary) -> None:
    """Delete, after a second click that confirms it."""
    if st.session_state.get(CONFIRM_DELETE) != run.run_id:
        if st.button("Delete run…", icon=":material/delete:", key="runs_delete"):
            st.session_state[CONFIRM_DELETE] = run.run_id
            st.rerun()
        return
    training = " It is training: it will be stopped first." if run.active else ""
    st.warning(f"Delete run `{run.run_id}` and all its files? This cannot be undone.{training}")
    yes, no = st.columns(2)
    if no.button("Cancel", key="runs_delete_cancel"):
        st.session_state.pop(CONFIRM_DELETE, None)
        st.rerun()
    if yes.button("Yes, delete", type="primary", key="runs_delete_yes"):
        st.session_state.pop(CONFIRM_DELETE, None)
        try:
            with st.spinner("Stopping and deleting…" if run.active else "Deleting…"):
                delete_run(run)
        except (UserError, OSError) as error:
            st.error(f"The run could not be deleted: {error}")
            return
        st.toast(f"Deleted {run.run_id}")
        st.rerun()


def manage_section(run: RunSummary) -> None:
    name = run.config.name if run.config and run.config.name else run.run_id
    st.markdown(f"**{markdown_text(name)}** · {run_badge(run)} · `{run.run_id}`")
    if run.state == RunState.BROKEN:
        st.error(run.message)
    elif run.notes.imported_from:
        st.caption(f"Imported from a bundle of run `{run.notes.imported_from}`.")
    if run.status and run.status.weights_source:  # VGG16 runs: pretrained on what
        st.caption(f"VGG16 weights: {markdown_text(run.status.weights_source)}")
    if why := no_model_text(run):
        st.caption(why)
    left, right = st.columns([1.2, 1], gap="large")
    with left:
        if run.config is not None:
            describe_form(run)
    with right:
        open_links(run)
        st.divider()
        delete_section(run)
    downloads(run)  # the page's width: the right column cut their labels at 900 px


def import_section() -> None:
    st.subheader("Import a run")
    st.caption(
        "A bundle downloaded from this or another CNN Studio. It is checked completely "
        "before anything is stored, and gets a new run id."
    )
    upload = st.file_uploader(
        "Run bundle (.zip)",
        type=["zip"],
        max_upload_size=BUNDLE_MB,
        key="runs_import_file",
        help=f"Up to {BUNDLE_MB} MB: the run's model, records and predictions.",
    )
    if upload is not None and st.button(
        "Import", icon=":material/upload:", key="runs_import", type="primary"
    ):
        try:
            with st.spinner("Checking the bundle…"):
                folder = import_bundle(upload.getvalue())
        except UserError as error:
            st.error(f"The bundle was not imported: {error}")
            return
        st.session_state[IMPORTED] = st.session_state[SELECT_NEXT] = folder.run_id
        st.rerun()
    if st.session_state.get(IMPORTED):
        st.success(f"Imported as run `{st.session_state[IMPORTED]}`.")


def link_notice(runs: list[RunSummary]) -> None:
    """Say why a `?run=` link's run is not offered here: this page manages the
    workspace's own runs; another workspace's public run or a starter model can only be
    viewed (links to the pages that show it), and any other id is not here."""
    link = st.query_params.get(RUN_PARAM)
    if link is None or any(r.run_id == link for r in runs):
        return
    try:
        run = access.readable_run(link)
    except UserError:
        shown = f"`{link}`" if RUN_ID_PATTERN.match(link) else "id"
        st.warning(
            f"The link's run {shown} is not one of this workspace's runs (deleted, from "
            "another workspace or another deployment)."
        )
        return
    name = f"**{markdown_text(run.config.name)}** " if run.config and run.config.name else ""
    whose = "ships with CNN Studio" if run.starter else "is shared read-only by another workspace"
    st.info(
        f"The link's run {name}(`{run.run_id}`) {whose}: it cannot be managed here "
        "(renamed, tagged, downloaded or deleted), only viewed.",
        icon=":material/visibility:",
    )
    open_links(run)


def render_runs() -> None:
    st.title("Runs")
    runs = list_runs()
    link_notice(runs)
    if not runs:
        st.info("No runs yet: train one on the Train page, or import a bundle below.")
    else:
        shown = filters(runs).apply(runs)
        runs_table(shown)
        st.caption(f"{len(shown)} of {len(runs)} runs.")
        if shown:
            st.subheader("Manage a run")
            manage_section(pick_run(shown))
    st.divider()
    import_section()


ensure_app_navigation()
render_runs()
