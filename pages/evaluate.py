"""Evaluate: how good a trained model is on the test set, and where it goes wrong.

An evaluated run is shown from its files alone (`evaluation.json`,
`predictions.npz`), without TensorFlow; a run that ended before its evaluation
(interrupted) is evaluated here once and the result stored with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.charts.style import plain_labels
from cnn_core.data.registry import Dataset
from cnn_core.insight.labels import (
    MIRROR_AVERAGE_LABEL,
    markdown_text,
    model_label,
    percent,
    single_accuracy_text,
)
from cnn_core.models.evaluate import (
    cell_indices,
    evaluate_model,
    first_errors,
    most_confident_errors,
    most_confused_cell,
    prediction_caption,
    predictions_csv,
)
from cnn_core.schema.records import Evaluation
from cnn_core.store import access
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import RunSummary
from pages._shared.common import (
    count_columns,
    ensure_app_navigation,
    model_run_picker,
    optional_dataset,
    require_dataset,
    require_model,
)
from pages._shared.doctor_view import findings_section, run_findings
from pages._shared.embedding_view import embedding_section
from pages._shared.figure_cache import confusion_chart, image_tiles
from pages._shared.inside_link import image_link
from pages._shared.my_images import unlabeled_section

MATRIX_KEY = "eval_matrix"
CELL_OF = "eval_cell_of"  # the run whose classes `eval_true` / `eval_pred` refer to
GALLERY_LIMIT = 40
GALLERY_COLUMNS = 8
GRID_SIDE = 3  # the classic 3x3 grid of errors
CONFIDENT_ERRORS = 16
TILE_PX = 84


@st.cache_data(max_entries=4, show_spinner=False)
def cached_predictions(
    path: str, mtime: float, n_classes: int, n_images: int
) -> tuple[np.ndarray, np.ndarray]:
    """probs (n, classes) and y_true (n,) of the run in folder `path`, read once per
    file version (`mtime` in the key)."""
    return RunFolder(Path(path)).read_predictions(n_classes, n_images)


@st.cache_data(max_entries=2, show_spinner=False)
def cached_csv(path: str, mtime: float, class_names: tuple[str, ...], n_images: int) -> str:
    """The predictions CSV of one file version."""
    probs, y_true = cached_predictions(path, mtime, len(class_names), n_images)
    return predictions_csv(probs, y_true, list(class_names))


def evaluate_now(run: RunSummary) -> Evaluation:
    """Evaluate the run's model on the test set and store the result with the run."""
    model = require_model(run)
    dataset = require_dataset(run.config.dataset)
    with st.spinner("Evaluating the model on the test set (once; the result is stored)…"):
        try:
            evaluation, probs = evaluate_model(
                model,
                dataset.x_test,
                dataset.y_test,
                dataset.info.class_names,
                mirror=run.mirror_average,
            )
            access.save_evaluation(run, evaluation, probs, dataset.y_test)
        except (OSError, ValueError, UserError) as error:
            st.error(f"The model could not be evaluated or the result not stored: {error}")
            st.stop()
    return evaluation


def ensure_evaluation(run: RunSummary) -> Evaluation:
    """The stored evaluation, computed first for a run that has none."""
    evaluation = run.read_evaluation()
    if evaluation is not None and run.predictions_path.is_file():
        return evaluation
    st.info(
        f"No test-set evaluation is stored for this run (it ended {run.state}): "
        "evaluating its last saved model now, once."
    )
    return evaluate_now(run)


def predictions_version(run: RunSummary) -> float:
    """The predictions file's modification time (0.0 when missing): a cache key."""
    try:
        return run.predictions_path.stat().st_mtime
    except OSError:
        return 0.0


def require_predictions(run: RunSummary, evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    """probs (n, classes) and y_true (n,), or an error with a way to redo the evaluation."""
    try:
        return cached_predictions(
            str(run.path), predictions_version(run), len(evaluation.class_names), evaluation.n
        )
    except UserError as error:
        st.error(f"{error}. The metrics above come from the stored evaluation.")
        if st.button("Evaluate again from the model", key="eval_redo"):
            evaluate_now(run)
            st.rerun()
        st.stop()


def metrics_row(run: RunSummary, evaluation: Evaluation) -> None:
    cols = st.columns([2, 1, 1, 1])
    cols[0].metric(
        "Test accuracy",
        percent(evaluation.accuracy),
        f"{evaluation.correct:,} / {evaluation.n:,} right",
        delta_color="off",
        delta_arrow="off",
        help=f"{evaluation.accuracy_text()} {single_accuracy_text(evaluation.single_accuracy)}",
    )
    if evaluation.single_accuracy is not None:
        cols[0].caption(
            f"{MIRROR_AVERAGE_LABEL}: image and mirror averaged; "
            f"{percent(evaluation.single_accuracy)} on single images"
        )
    cols[1].metric("Test loss", f"{evaluation.loss:.4f}", help="Mean cross-entropy.")
    cols[2].metric("Errors", f"{evaluation.errors:,}")
    cols[3].metric("Epochs trained", run.epochs_done)


def per_class_table(evaluation: Evaluation) -> None:
    per_class = evaluation.per_class
    frame = pd.DataFrame(
        {
            "class": evaluation.class_names,
            "precision": 100 * np.asarray(per_class.precision),
            "recall": 100 * np.asarray(per_class.recall),
            "F1": 100 * np.asarray(per_class.f1),
            "support": per_class.support,
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(format="%.1f%%")
            for name in ("precision", "recall", "F1")
        }
        | count_columns("support"),
        key="eval_per_class",
    )
    st.caption(
        "Precision: of the images predicted as the class, how many were it. "
        "Recall: of the images of the class, how many were found. Support: test images."
    )


def choose_cell(class_names: list[str], matrix: np.ndarray, run_id: str) -> tuple[int, int]:
    """Default the cell selectboxes to the most confused cell of a newly chosen run."""
    n = len(class_names)
    state = st.session_state
    if state.get(CELL_OF) != run_id or state.get("eval_true") not in range(n):
        state["eval_true"], state["eval_pred"] = most_confused_cell(matrix)
        state[CELL_OF] = run_id
    return int(state["eval_true"]), int(state["eval_pred"])


def pick_clicked_cell(class_names: list[str]) -> None:
    """On a click in the matrix: point the selectboxes at the clicked cell."""
    event = st.session_state.get(MATRIX_KEY)
    points = event.selection.points if event else []
    names = plain_labels(class_names)  # the figure's labels
    if points and str(points[0].get("y")) in names and str(points[0].get("x")) in names:
        st.session_state["eval_true"] = names.index(str(points[0]["y"]))
        st.session_state["eval_pred"] = names.index(str(points[0]["x"]))


def confusion_section(evaluation: Evaluation, selected: tuple[int, int]) -> None:
    class_names = list(evaluation.class_names)
    normalise = st.toggle(
        "Row-normalise (share of each true class)", key="eval_normalise", value=False
    )
    st.plotly_chart(
        confusion_chart(np.asarray(evaluation.confusion_matrix), class_names, normalise, selected),
        on_select=lambda: pick_clicked_cell(class_names),
        selection_mode="points",
        key=MATRIX_KEY,
        config={"displayModeBar": False},
    )
    st.caption("Click a cell to see its images below.")


def image_grid(
    dataset: Dataset, indices: np.ndarray, captions: list[str], columns: int, run_id: str
) -> None:
    """Test images `indices` in rows of `columns`, each with its caption and a link into
    Inside the CNN on that image."""
    scale = max(1, TILE_PX // dataset.info.image_shape[0])
    tiles = image_tiles(dataset.x_test[indices], scale)  # JPEG bytes, cached by pixels
    for start in range(0, len(tiles), columns):
        row = st.columns(columns)
        cells = zip(row, tiles[start:], captions[start:], indices[start:], strict=False)
        for col, tile, caption, index in cells:
            col.image(tile, caption=caption)
            image_link(col, run_id, int(index))


def captions_for(
    indices: np.ndarray, y_true: np.ndarray, probs: np.ndarray, class_names: list[str]
) -> list[str]:
    y_pred = probs[indices].argmax(axis=1)
    return [
        prediction_caption(class_names, int(t), int(p), float(probs[i, p]))
        for i, t, p in zip(indices, y_true[indices], y_pred, strict=True)
    ]


def cell_gallery(
    dataset: Dataset, y_true: np.ndarray, probs: np.ndarray, class_names: list[str], run_id: str
) -> None:
    n = len(class_names)
    cols = st.columns(2)
    true_class = cols[0].selectbox(
        "True class", range(n), format_func=class_names.__getitem__, key="eval_true"
    )
    pred_class = cols[1].selectbox(
        "Predicted class", range(n), format_func=class_names.__getitem__, key="eval_pred"
    )
    indices = cell_indices(y_true, probs.argmax(axis=1), true_class, pred_class, probs)
    true_name, pred_name = (markdown_text(class_names[c]) for c in (true_class, pred_class))
    if not len(indices):
        st.info(f"No test image of {true_name} was predicted as {pred_name}.")
        return
    what = "correctly classified" if true_class == pred_class else f"predicted as **{pred_name}**"
    st.markdown(f"{len(indices):,} test images of **{true_name}** {what}, most confident first.")
    shown = indices[:GALLERY_LIMIT]
    with st.container(key="eval_gallery"):
        captions = captions_for(shown, y_true, probs, class_names)
        image_grid(dataset, shown, captions, GALLERY_COLUMNS, run_id)
    if len(indices) > GALLERY_LIMIT:
        st.caption(f"… and {len(indices) - GALLERY_LIMIT:,} more not shown.")


def errors_section(
    dataset: Dataset, y_true: np.ndarray, probs: np.ndarray, class_names: list[str], run_id: str
) -> None:
    y_pred = probs.argmax(axis=1)
    if not (y_pred != y_true).any():
        st.success("No errors on the test set.")
        return
    grid_col, confident_col = st.columns([2, 3], gap="large")
    with grid_col:
        st.markdown("**The first errors of the test set**")
        first = first_errors(y_true, y_pred, GRID_SIDE * GRID_SIDE)
        # the words of every other gallery, without the confidence (narrow tiles)
        captions = [
            f"true: {class_names[y_true[i]]}, predicted: {class_names[y_pred[i]]}" for i in first
        ]
        image_grid(dataset, first, captions, GRID_SIDE, run_id)
    with confident_col:
        st.markdown("**The most confident errors**")
        worst = most_confident_errors(y_true, probs, CONFIDENT_ERRORS)
        captions = captions_for(worst, y_true, probs, class_names)
        image_grid(dataset, worst, captions, 4, run_id)


def render_evaluate() -> None:
    st.title("Evaluate")
    run = model_run_picker("eval_run")
    if run.config is None:
        st.error(f"Run {run.run_id} has no readable config.json: {run.message}")
        st.stop()
    st.caption(
        f"{model_label(run)} · {run.epochs_done} epoch(s) · `{run.run_id}`. "
        "All numbers are on the held-out test set."
    )
    evaluation = ensure_evaluation(run)
    class_names = list(evaluation.class_names)
    metrics_row(run, evaluation)
    findings_section(run, "eval", run_findings(run))
    probs, y_true = require_predictions(run, evaluation)
    st.download_button(
        "Download predictions (CSV)",
        cached_csv(str(run.path), predictions_version(run), evaluation.class_names, len(y_true)),
        file_name=f"{run.run_id}-predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        key="eval_download",
        on_click="ignore",
    )

    matrix = np.asarray(evaluation.confusion_matrix)
    selected = choose_cell(class_names, matrix, run.run_id)
    matrix_col, table_col = st.columns([3, 2], gap="large")
    with matrix_col:
        st.subheader("Confusion matrix")
        confusion_section(evaluation, selected)
    with table_col:
        st.subheader("Per class")
        per_class_table(evaluation)

    unlabeled_section(run)
    dataset = optional_dataset(run.config.dataset, "the test images of this run cannot be shown")
    if dataset is None:
        return
    if not np.array_equal(dataset.y_test, y_true):
        st.warning(
            "The test images on this machine are not the ones this run was evaluated on, "
            "so its images cannot be shown."
        )
        return
    st.subheader("Images in a cell")
    cell_gallery(dataset, y_true, probs, class_names, run.run_id)
    st.subheader("Errors at a glance")
    errors_section(dataset, y_true, probs, class_names, run.run_id)
    embedding_section(run, dataset, probs, class_names)


ensure_app_navigation()
render_evaluate()
