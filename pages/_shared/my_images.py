"""Page helpers for the user's own images: import form, pre-training report,
augmentation settings with preview, and predictions for an unlabeled test folder.

Class names are user data: they are shown through widgets that print text as it
is (`st.text`, data frames) or HTML-escaped in plotly figures, never as markdown.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import IMAGE_MB, ZIP_MB
from cnn_core.charts.data import class_distribution_figure, pixel_tiles
from cnn_core.data.registry import class_counts, find_dataset
from cnn_core.data.user import importer
from cnn_core.data.user.manifest import Manifest, read_manifest
from cnn_core.data.user.names import is_user_key
from cnn_core.data.user.options import COLOURS, FITS, SIDES, VALIDATION_RANGE, ImageOptions
from cnn_core.data.user.places import data_dir
from cnn_core.data.user.store import unlabeled_images
from cnn_core.data.user.summaries import class_samples, split_class_counts
from cnn_core.insight.labels import MIRROR_AVERAGE_HELP, MIRROR_AVERAGE_LABEL
from cnn_core.models.evaluate import predict_in_batches, predictions_csv
from cnn_core.schema.config import (
    AUGMENT_RANGES,
    FLIPS,
    MIRRORING_FLIPS,
    AugmentSpec,
    TrainConfig,
)
from cnn_core.store.runs import RunSummary
from pages._shared.common import CHOSEN_DATASET, count_columns, require_dataset, require_model

SOURCES = ("Upload a folder", "Upload a zip", "Folder on the server")
SAMPLES_PER_CLASS = 8
TILE_PX = 96
LAYOUT_HELP = (
    "One folder per class, named after the class: `train/cat/*.jpg`, `train/dog/*.jpg` "
    "(or the class folders at the top). Optionally `test/` with the same class folders for a "
    "labelled test set, or a flat `test/` of unlabeled images to predict. PNG, JPEG, BMP, GIF "
    "and WebP are read; everything else is skipped and listed."
)


def import_section() -> None:
    """The "My images" form: name, storage settings, the images, and the report after."""
    st.caption(LAYOUT_HELP)
    name = st.text_input("Dataset name", placeholder="e.g. cats vs dogs", key="myimg_name")
    options = options_inputs()
    source, given = images_input()
    if st.button("Check and save the images", type="primary", key="myimg_import"):
        key = run_import(name, source, given, options)
        if key is not None:
            st.session_state["myimg_last"] = key
            st.session_state[CHOSEN_DATASET] = key
    last = st.session_state.get("myimg_last")
    if last and find_dataset(last) is not None:
        st.success(
            "Saved. It is listed in every dataset picker (Data, Train, Evaluate, Inside, Predict)."
        )
        report_section(last)


def options_inputs() -> ImageOptions:
    """How the images will be stored: size, fit, colour and validation share."""
    cols = st.columns(4)
    side = cols[0].selectbox("Image size (px, square)", SIDES, index=4, key="myimg_side")
    fit = cols[1].radio(
        "Fit",
        FITS,
        format_func={"stretch": "stretch to square", "pad": "keep aspect, pad"}.get,
        key="myimg_fit",
    )
    colour = cols[2].radio(
        "Colour",
        COLOURS,
        format_func={"rgb": "RGB", "grey": "greyscale"}.get,
        key="myimg_colour",
    )
    validation = cols[3].slider(
        "Validation share",
        *VALIDATION_RANGE,
        value=0.16,
        step=0.01,
        key="myimg_validation",
        help="The share of the training images a run on this dataset holds out for "
        "validation: the Train page's validation fraction starts at it (you can change it "
        "there for a run). Without a labelled test folder the same share is also held out "
        "once, now (stratified, fixed seed), as the test set.",
    )
    return ImageOptions(int(side), fit, colour, float(validation))


def images_input() -> tuple[str, Any]:
    """Where the images come from (one of SOURCES) and what was given: uploads or a path."""
    source = st.radio("Images from", SOURCES, horizontal=True, key="myimg_source")
    if source == SOURCES[0]:
        return source, st.file_uploader(
            "Folder of class folders",
            accept_multiple_files="directory",
            key="myimg_dir",
            max_upload_size=IMAGE_MB,
            help=f"Up to {IMAGE_MB} MB per image; any number of images.",
        )
    if source == SOURCES[1]:
        return source, st.file_uploader(
            "Zip of class folders",
            type=["zip"],
            key="myimg_zip",
            max_upload_size=ZIP_MB,
            help=f"Up to {ZIP_MB} MB (the upload is held in the server's memory). "
            "Bigger sets: upload the folder (the limit is then per file) or put it in the "
            "data directory and name it here.",
        )
    return source, st.text_input(
        f"Folder inside the data directory {data_dir()}",
        placeholder="e.g. cats_vs_dogs",
        key="myimg_path",
    )


def run_import(name: str, source: str, given: Any, options: ImageOptions) -> str | None:
    """Import what the form got; shows the message and returns None when refused."""
    if not given:
        st.error("Give the images first: a folder, a zip, or a folder name on the server.")
        return None
    bar = st.progress(0.0, text="Checking every image…")

    def progress(split: str, done: int, total: int) -> None:
        bar.progress(done / max(1, total), text=f"Checking {split} images: {done:,} of {total:,}")

    try:
        if source == SOURCES[0]:
            files = [(f.name, f) for f in given]
            return importer.import_files(name, files, options, progress=progress)
        if source == SOURCES[1]:
            return importer.import_zip(name, given, options, progress=progress)
        return importer.import_server_folder(name, str(given), options, progress=progress)
    except UserError as error:
        st.error(str(error))
        return None
    finally:
        bar.empty()


def report_section(key: str) -> None:
    """What training will see: classes, samples per class, sizes, and what was skipped."""
    try:
        manifest = read_manifest(key)
    except UserError as error:  # deleted or damaged since the page listed it
        st.error(str(error))
        return
    dataset = require_dataset(key)
    names = list(dataset.info.class_names)
    n_classes = len(names)
    test_kind = "held out from train/" if manifest.held_out else "from the test/ folder"
    st.caption(
        f"{len(dataset.y_train):,} training images, {len(dataset.y_test):,} test images "
        f"({test_kind}), {manifest.n_unlabeled:,} unlabeled, stored at "
        f"{'x'.join(map(str, dataset.info.image_shape))}."
    )
    st.subheader("Images per class")
    counts = {
        "train": class_counts(dataset.y_train, n_classes),
        "test": class_counts(dataset.y_test, n_classes),
    }
    figure = class_distribution_figure(counts, [html.escape(n) for n in names])
    st.plotly_chart(figure, key=f"myimg_classes_{key}")
    class_table(manifest, dataset, names)
    st.subheader("Samples per class")
    picks = class_samples(dataset.y_train, n_classes, SAMPLES_PER_CLASS)
    scale = max(1, TILE_PX // dataset.info.image_shape[0])
    for name, indices in zip(names, picks, strict=True):
        st.text(name)
        cols = st.columns(SAMPLES_PER_CLASS)
        for col, tile in zip(cols, pixel_tiles(dataset.x_train[indices], scale), strict=False):
            col.image(tile)
    st.subheader("Image sizes (before resizing)")
    sizes = manifest.report.sizes
    rows = [
        {"": f"{side} (px)", "min": low, "median": mid, "max": high}
        for side, (low, mid, high) in (("width", sizes.width), ("height", sizes.height))
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"myimg_sizes_{key}")
    formats = ", ".join(f"{k} {v:,}" for k, v in sizes.formats.items())
    converted = ", ".join(f"{k} {v:,}" for k, v in sizes.converted_modes.items()) or "none"
    st.text(
        f"{sizes.distinct:,} distinct sizes, {sizes.square:,} square images. "
        f"Formats: {formats}. Colour modes converted: {converted}."
    )
    skipped_section(manifest.report.skipped, key)


def class_table(manifest: Manifest, dataset: Any, names: list[str]) -> None:
    """Images per class in a run's training, validation and test splits, as numbers."""
    key = manifest.key
    share = float(manifest.options.validation)
    counts = split_class_counts(
        dataset.y_train, dataset.y_test, len(names), share, TrainConfig.seed
    )
    test = "test (held out)" if manifest.held_out else "test"
    frame = pd.DataFrame(
        {
            "class": names,
            "train": counts["train"],
            "validation": counts["validation"],
            test: counts["test"],
        }
    )
    counted = [column for column in frame.columns if column != "class"]
    st.dataframe(
        frame,
        hide_index=True,
        column_config=count_columns(*counted),
        key=f"myimg_class_counts_{key}",
    )
    st.caption(
        f"As a run on this dataset splits it by default: {share:.0%} of each class for "
        f"validation (the share chosen at import), seed {TrainConfig.seed}. Another share "
        "or seed on the Train page splits differently."
    )


def skipped_section(skipped: tuple[tuple[str, str], ...], key: str) -> None:
    """The files left out, counted by reason, then listed."""
    st.subheader(f"Skipped files: {len(skipped):,}")
    if not skipped:
        st.text("Every file was a usable image.")
        return
    frame = pd.DataFrame(list(skipped), columns=["file", "reason"])
    kinds = frame["reason"].str.replace(r"^duplicate of .*", "duplicate", regex=True)
    st.dataframe(
        kinds.value_counts().rename_axis("reason").reset_index(name="files"),
        hide_index=True,
        key=f"myimg_skip_counts_{key}",
    )
    st.dataframe(frame, hide_index=True, key=f"myimg_skipped_{key}")


@st.cache_data(max_entries=8, show_spinner=False)
def cached_preview(image: np.ndarray, spec: AugmentSpec, n: int) -> np.ndarray:
    """`cnn_core.data.augment.preview`, once per image and spec."""
    from cnn_core.data.augment import preview

    return preview(image, spec, n)


def augment_inputs(prefix: str, sample: np.ndarray) -> AugmentSpec:
    """Augmentation settings and a preview of `sample` (uint8 (h, w, c)) as training sees it."""
    with st.expander("Augmentation (random changes while training)"):
        cols = st.columns(5)
        flip = cols[0].selectbox("Flip", FLIPS, key=f"{prefix}_aug_flip", persist_state="session")
        values = {}
        labels = {
            "rotation": "Rotation (of a turn)",
            "zoom": "Zoom",
            "translation": "Shift",
            "contrast": "Contrast",
        }
        for col, (field, label) in zip(cols[1:], labels.items(), strict=True):
            low, high = AUGMENT_RANGES[field]
            values[field] = col.slider(
                label, low, high, 0.0, 0.05, key=f"{prefix}_aug_{field}", persist_state="session"
            )
        mirrors = flip in MIRRORING_FLIPS
        mirror = st.checkbox(
            f"{MIRROR_AVERAGE_LABEL}: predict from each image and its mirror image",
            key=f"{prefix}_aug_mirror",
            persist_state="session",
            disabled=not mirrors,
            help=MIRROR_AVERAGE_HELP
            + ("" if mirrors else " Switch on a horizontal flip above to use it."),
        )
        spec = AugmentSpec(flip=flip, mirror_average=bool(mirror and mirrors), **values)
        if not spec.active:
            st.caption("Off: the model sees every training image as it is.")
            return spec
        at_test = "the image and its mirror image" if spec.mirror_average else "the image as it is"
        st.caption(
            f"Eight random versions of one training image (at test time the model sees "
            f"{at_test} only):"
        )
        versions = cached_preview(np.asarray(sample), spec, 8)
        scale = max(1, TILE_PX // versions.shape[1])
        for col, tile in zip(st.columns(8), pixel_tiles(versions, scale), strict=True):
            col.image(tile)
    return spec


def unlabeled_section(run: RunSummary) -> None:
    """A CSV of predictions for the run's dataset's unlabeled test folder (when it has one)."""
    dataset_key, run_id = run.config.dataset, run.run_id
    if not is_user_key(dataset_key):
        return
    try:
        names, images = unlabeled_images(dataset_key)
        classes = read_manifest(dataset_key).classes
    except UserError:
        return
    if images is None:
        return
    st.subheader("Unlabeled test folder")
    state = f"unlabeled_csv_{run_id}"
    if st.button(f"Predict the {len(names):,} unlabeled images", key="eval_unlabeled"):
        with st.spinner("Predicting…"):
            mirror = run.mirror_average
            probs = predict_in_batches(require_model(run), images, mirror=mirror)
        st.session_state[state] = predictions_csv(
            probs, None, list(classes), ids=names, id_column="file"
        )
    if state in st.session_state:
        st.download_button(
            "Download predictions for the unlabeled images (CSV)",
            st.session_state[state],
            file_name=f"{run_id}-unlabeled-predictions.csv",
            mime="text/csv",
            icon=":material/download:",
            key="eval_unlabeled_download",
            on_click="ignore",
        )
