"""Predict: classify uploaded images, or a digit drawn in the browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import IMAGE_MB
from cnn_core.charts.data import pixel_tiles
from cnn_core.charts.model_views import probability_bar_figure
from cnn_core.data.images import ALLOWED_FORMATS, UPLOAD_SUFFIXES, canvas_to_digit
from cnn_core.data.user.store import pads_images
from cnn_core.insight.labels import MIRROR_AVERAGE_CAPTION, class_names, percent
from cnn_core.insight.novelty import Detector
from cnn_core.insight.predict import (
    DIGITS_DATASET,
    Predictor,
    PreparedUploads,
    prepare_uploads,
    reads_digits,
)
from cnn_core.models.evaluate import predictions_csv
from pages._shared import novelty_view
from pages._shared.common import (
    cached_model,
    ensure_app_navigation,
    model_run_picker,
    require_model,
)

CANVAS_SIZE = 280  # px; ten canvas pixels per MNIST pixel
RESULT_PX = 420  # the drawing's result beside the canvas, or under it when narrow
STROKE_WIDTH = 18  # px on the 280 px canvas: about a pen stroke of MNIST digits
TOP_K = 5
DETAIL_LIMIT = 8  # more uploads than this are shown as a table
DRAW_HINT = "Draw a digit on the black canvas to see what the network thinks it is."


@st.cache_resource(max_entries=4)
def cached_predictor(model_path: str, mtime: float, mirror: bool) -> Predictor:
    """A compiled predictor per model file version and way of predicting (`mirror`:
    the run's test-time flips)."""
    return Predictor(cached_model(model_path, mtime), mirror)


def draw_tab(predictor: Predictor, names: list[str], detector: Detector | None = None) -> None:
    from streamlit_drawable_canvas import st_canvas  # imports only inside a running app

    st.session_state.setdefault("predict_canvas_round", 0)
    # A row that wraps: the result goes under the canvas where both do not fit side by
    # side (a narrow window), instead of columns that would cut the canvas off.
    row = st.container(horizontal=True, gap="large")
    left, right = row.container(width=CANVAS_SIZE), row.container(width=RESULT_PX)
    with left:
        st.caption("Draw one digit with the mouse (or a finger), as large or small as you like.")
        st.space("small")  # room for the canvas's own toolbar, which floats above its corner
        result = st_canvas(
            stroke_width=STROKE_WIDTH,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=CANVAS_SIZE,
            width=CANVAS_SIZE,
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"predict_canvas_{st.session_state['predict_canvas_round']}",
        )
        if st.button("Clear", icon=":material/ink_eraser:", key="predict_clear"):
            st.session_state["predict_canvas_round"] += 1
            st.rerun()
    with right:
        if result.image_data is None:  # the canvas has not reported yet
            st.info(DRAW_HINT)
            return
        try:
            digit = canvas_to_digit(result.image_data)  # (28, 28, 1) in [0, 255], MNIST-style
        except UserError as error:
            st.error(str(error))
            return
        if digit is None:  # nothing drawn yet
            st.info(DRAW_HINT)
            return
        st.session_state["last_drawn_digit"] = digit  # the Inside page can open it
        probs = predictor.image_probabilities(digit)
        best = int(probs.argmax())
        cols = st.columns([1, 1])
        cols[0].metric(
            "Prediction",
            names[best],
            f"{probs[best]:.1%} sure",
            delta_color="off",
            delta_arrow="off",
        )
        cols[1].image(
            pixel_tiles(digit[np.newaxis].astype(np.uint8), 4)[0],
            caption="What the network sees (28x28)",
        )
        st.plotly_chart(
            probability_bar_figure(probs, names, top_k=len(names)), key="predict_draw_bars"
        )
        score = novelty_view.scores_of(detector, digit[np.newaxis])[0]
        novelty_view.show_verdict(detector, score, DIGITS_DATASET)


def upload_tab(
    predictor: Predictor,
    names: list[str],
    digits: bool,
    pad: bool,
    detector: Detector | None = None,
    dataset: str | None = None,
) -> None:
    files = st.file_uploader(
        f"Images ({', '.join(ALLOWED_FORMATS)}), up to {IMAGE_MB} MB each",
        type=UPLOAD_SUFFIXES,
        accept_multiple_files=True,
        max_upload_size=IMAGE_MB,
        key="predict_upload",
        help=f"Up to {IMAGE_MB} MB per image; a bigger one is refused (its chip turns red).",
    )
    if not files:
        st.info("Upload one or more images to classify them.")
        return
    pairs = ((f.name, f.getvalue()) for f in files)
    prepared = prepare_uploads(pairs, predictor.input_shape, digits, pad)
    shown = show_prepared(prepared, predictor, names, detector, dataset, "predict")
    if shown is None:
        return
    frame, probs = shown
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"confidence": st.column_config.ProgressColumn(min_value=0, max_value=1)},
        key="predict_table",
    )
    st.download_button(
        "Download predictions (CSV)",
        predictions_csv(
            probs,
            None,
            names,
            ids=list(frame["file"]),
            id_column="file",
            extra={"unusual": list(frame["unusual"])} if detector else None,
        ),
        file_name="predictions.csv",
        mime="text/csv",
        key="predict_csv",
    )


def show_prepared(
    prepared: PreparedUploads,
    predictor: Predictor,
    names: list[str],
    detector: Detector | None,
    dataset: str | None,
    prefix: str,
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """Errors, then each image's prediction (a few in detail); the table (file, predicted,
    confidence, and unusual when there is a `detector`) and the probabilities, float
    (n, n_classes); None when no image could be read."""
    for message in prepared.errors:
        st.error(message)
    if not prepared.inputs:
        return None
    batch = prepared.batch()
    probs = predictor.probabilities(batch)  # one batched call for all files
    scores = novelty_view.scores_of(detector, batch)
    items = list(zip(prepared.names, prepared.images, prepared.inputs, probs, scores, strict=True))
    if len(items) <= DETAIL_LIMIT:
        for name, image, seen, row, score in items:
            with upload_detail(name, image, seen, row, names, f"{prefix}_bars_{name}"):
                novelty_view.show_verdict(detector, score, dataset)  # inside the image's box
    rows = [
        {"file": name, "predicted": names[int(row.argmax())], "confidence": float(row.max())}
        | ({"unusual": novelty_view.is_unusual(detector, score)} if detector else {})
        for name, _, _, row, score in items
    ]
    return pd.DataFrame(rows), probs


def camera_tab(
    predictor: Predictor,
    names: list[str],
    digits: bool,
    pad: bool,
    detector: Detector | None = None,
    dataset: str | None = None,
) -> None:
    """A webcam photo, prepared exactly as an uploaded file."""
    photo = st.camera_input("Take a photo with your webcam", key="predict_camera")
    if photo is None:
        st.info("Allow the browser to use the camera, then take a photo to classify it.")
        return
    prepared = prepare_uploads([(photo.name, photo.getvalue())], predictor.input_shape, digits, pad)
    show_prepared(prepared, predictor, names, detector, dataset, "predict_camera")


def upload_detail(
    name: str, image, seen: np.ndarray, probs: np.ndarray, names: list[str], key: str = ""
) -> DeltaGenerator:
    """One image's box: as uploaded, as the network sees it, its top classes; the box."""
    box = st.container(border=True)
    with box:
        cols = st.columns([1, 1, 2])
        cols[0].image(image, caption=f"{name} as uploaded", width=160)
        scale = max(1, 112 // seen.shape[0])
        tile = pixel_tiles(seen[np.newaxis].astype(np.uint8), scale)[0]
        cols[1].image(tile, caption="as the network sees it")
        cols[2].plotly_chart(
            probability_bar_figure(probs, names, top_k=min(TOP_K, len(names))),
            key=key or f"predict_bars_{name}",
        )
    return box


def render_predict() -> None:
    st.title("Predict")
    run = model_run_picker("predict_run", prefer_dataset="mnist")
    require_model(run)  # a clear message for a missing or damaged model
    predictor = cached_predictor(str(run.model_path), run.model_version(), run.mirror_average)
    names = class_names(run, predictor.num_classes)
    if run.starter:
        n_train = run.status.n_train if run.status else None
        n_train = f"{n_train:,}" if n_train else "?"
        accuracy = percent(run.test_accuracy)
        st.caption(
            f":material/star: The starter model ships with CNN Studio: a small CNN trained on "
            f"{n_train} MNIST images by `scripts/make_starter_model.py`; {accuracy} on the "
            "10,000 test images."
        )
    if run.mirror_average:
        st.caption(MIRROR_AVERAGE_CAPTION)
    dataset = run.config.dataset if run.config else None
    digits = reads_digits(predictor.input_shape, dataset)
    detector = novelty_view.run_detector(run)
    tabs = ["Draw", "Upload", "Camera"] if digits else ["Upload", "Camera"]
    chosen = st.tabs(tabs, key="predict_tabs")
    if digits:
        with chosen[0]:
            draw_tab(predictor, names, detector)
    with chosen[-2]:
        upload_tab(predictor, names, digits, pads_images(dataset), detector, dataset)
    with chosen[-1]:
        camera_tab(predictor, names, digits, pads_images(dataset), detector, dataset)


ensure_app_navigation()
render_predict()
