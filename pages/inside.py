"""Inside the CNN: what a trained network does with one image, layer by layer.

Layer shapes and filters, feature maps and Grad-CAM for a chosen image, and a
Concepts tab (``pages/_shared/concepts_tab.py``) that replays the operations a CNN is
made of on that image. Only the open tab is computed (lazy tabs); widgets
inside the tabs keep their values while another tab is open.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import streamlit as st

from cnn_core.base.digests import array_digest
from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import IMAGE_MB
from cnn_core.charts.data import pixel_tiles
from cnn_core.charts.model_views import (
    feature_map_grid_figure,
    gradcam_overlay_figure,
    probability_bar_figure,
)
from cnn_core.data.images import UPLOAD_SUFFIXES
from cnn_core.data.user.store import pads_images
from cnn_core.insight.inspection import (
    Inspector,
    filter_input_channels,
    filter_weights,
    format_shape,
    layer_flow,
    softmax_templates,
)
from cnn_core.insight.labels import MIRROR_AVERAGE_CAPTION, class_names
from cnn_core.insight.predict import prepare_uploads, reads_digits
from cnn_core.store.runs import RunSummary
from pages._shared import novelty_view
from pages._shared.common import (
    cached_model,
    ensure_app_navigation,
    model_run_picker,
    optional_dataset,
    require_model,
)
from pages._shared.concepts_tab import render_concepts
from pages._shared.figure_cache import filter_grid, layer_flow_chart
from pages._shared.inside_link import link_pending, linked_index, remember_image

DRAWN = "last_drawn_digit"  # set by the Predict page: float32 (28, 28, 1) in [0, 255]
SOURCES = {"test": "Test image", "upload": "Upload", "drawn": "Last drawing"}
TABS = ["Layers and filters", "Feature maps", "Grad-CAM", "Concepts"]
MAPS_PER_PAGE = 64
PREVIEW_PX = 140  # small images are enlarged by whole pixels to about this size
PREDICTED = -1  # Grad-CAM class choice meaning "the predicted class"


@st.cache_resource(show_spinner="Preparing the model for inspection…", max_entries=4)
def cached_inspector(model_path: str, mtime: float, mirror: bool) -> Inspector:
    """One compiled Inspector per model file version (`mtime` is in the key) and way of
    predicting (`mirror`: the run's test-time flips)."""
    return Inspector(cached_model(model_path, mtime), mirror)


def run_inspector(run: RunSummary) -> Inspector:
    """The run's compiled Inspector, predicting as the run does."""
    return cached_inspector(str(run.model_path), run.model_version(), run.mirror_average)


@st.cache_data(max_entries=64, show_spinner=False)
def _probabilities(
    model_path: str, mtime: float, mirror: bool, image_key: str, _image: Any
) -> np.ndarray:
    return cached_inspector(model_path, mtime, mirror).image_probabilities(_image)


def image_probabilities(run: RunSummary, image: np.ndarray) -> np.ndarray:
    """float32 (num_classes,): the run's prediction for one image (mirror-averaged for a
    run with test-time flips), once per model version and pixels."""
    mirror = run.mirror_average
    key = array_digest(image)
    return _probabilities(str(run.model_path), run.model_version(), mirror, key, image)


def drawn_digit() -> np.ndarray | None:
    """The Predict page's last drawing as raw pixels (28, 28, 1) in [0, 255], if any."""
    digit = st.session_state.get(DRAWN)
    return digit if isinstance(digit, np.ndarray) and digit.shape == (28, 28, 1) else None


def dataset_image_ui(run: RunSummary, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """A test-set image by index (or at random) as raw pixels (h, w, c) in [0, 255]."""
    data = optional_dataset(run.config.dataset, "its test images cannot be shown: upload one")
    if data is None:
        return None, ""
    if data.x_test.shape[1:] != shape:
        st.error(
            f"The {data.info.title} images are {format_shape(data.x_test.shape[1:])} but this "
            f"model expects {format_shape(shape)}; upload an image instead."
        )
        return None, ""
    count = len(data.x_test)
    linked = linked_index(count)  # /inside?image=<index>: a link chooses the image
    if linked is not None:
        st.session_state["inside_index"] = linked

    def pick_random() -> None:
        st.session_state["inside_index"] = int(np.random.default_rng().integers(count))

    cols = st.columns([2, 1], vertical_alignment="bottom")
    index = cols[0].number_input(
        f"Test image (0-{count - 1})",
        min_value=0,
        max_value=count - 1,
        step=1,
        key="inside_index",
        persist_state="page",
    )
    cols[1].button(
        "Random",
        icon=":material/casino:",
        help="A random test image",
        on_click=pick_random,
        key="inside_random",
    )
    remember_image(index)
    label = data.info.class_names[int(data.y_test[index])]
    return data.x_test[index].astype(np.float32), f"test image #{index} · true class {label}"


def upload_ui(run: RunSummary, shape: tuple[int, int, int]) -> tuple[np.ndarray | None, str]:
    """An uploaded image prepared for the model, or None (with a message)."""
    upload = st.file_uploader(
        f"Image, up to {IMAGE_MB} MB",
        type=UPLOAD_SUFFIXES,
        max_upload_size=IMAGE_MB,
        key="inside_upload",
        help=f"Up to {IMAGE_MB} MB; a bigger one is refused (its chip turns red).",
    )
    if upload is None:
        return None, ""
    dataset = run.config.dataset if run.config else None
    digits, pad = reads_digits(shape, dataset), pads_images(dataset)
    # exactly as Predict prepares an upload
    prepared = prepare_uploads([(upload.name, upload.getvalue())], shape, digits, pad)
    if prepared.errors:
        st.error(prepared.errors[0])
        return None, ""
    image = prepared.inputs[0]
    novelty_view.check_image(run, image)  # a warning when it is unlike the training data
    return image, f"{upload.name}, as the model sees it"


def image_ui(run: RunSummary, inspector: Inspector) -> tuple[np.ndarray | None, str]:
    """Where the image comes from, and the image: raw pixels (h, w, c) in [0, 255] or None."""
    drawing = drawn_digit() if inspector.input_shape == (28, 28, 1) else None
    sources = ["test", "upload"] + (["drawn"] if drawing is not None else [])
    if link_pending():
        st.session_state["inside_source"] = "test"  # a link to a test image shows it
    source = st.radio(
        "Image",
        sources,
        format_func=SOURCES.get,
        horizontal=True,
        key="inside_source",
        persist_state="page",
    )
    if source == "upload":
        return upload_ui(run, inspector.input_shape)
    if source == "drawn":
        return drawing, "your last drawing on the Predict page"
    return dataset_image_ui(run, inspector.input_shape)


def image_summary(
    image: np.ndarray | None, caption: str, run: RunSummary, names: list[str]
) -> None:
    """The image as the network sees it and what the network predicts for it."""
    if image is None:
        st.info("Upload an image (PNG, JPEG, BMP, GIF or WebP) to look inside the network.")
        return
    scale = max(1, PREVIEW_PX // image.shape[0])
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    probs = image_probabilities(run, image)
    best = int(probs.argmax())
    cols = st.columns([1, 1.2], vertical_alignment="center")
    cols[0].image(pixel_tiles(pixels[np.newaxis], scale)[0], caption=caption)
    cols[1].metric(
        "Prediction", names[best], f"{probs[best]:.1%} sure", delta_color="off", delta_arrow="off"
    )
    if run.mirror_average:
        cols[1].caption(MIRROR_AVERAGE_CAPTION)


def layers_tab(model: Any, inspector: Inspector, names: list[str]) -> None:
    """The flow of shapes through the network, then the filters (or class templates)."""
    flow = layer_flow(model)
    st.plotly_chart(layer_flow_chart(flow), key="inside_flow")
    total = sum(step["params"] for step in flow)
    st.caption(
        f"{len(flow)} layers, {total:,} weights. Each box shows what the layer outputs "
        "(height x width x channels); hover a box for its weight count."
    )
    if inspector.conv_layers:
        filters_section(model, inspector)
    else:
        templates_section(model, names)


def filters_section(model: Any, inspector: Inspector) -> None:
    st.subheader("Filters")
    cols = st.columns([1.5, 1])
    with cols[1]:
        layer = st.selectbox(
            "Conv layer", inspector.conv_layers, key="inside_filter_layer", persist_state="page"
        )
        channels = filter_input_channels(model, layer)
        channel = 0
        if channels > 1:
            channel = st.number_input(
                f"Input channel (0-{channels - 1})",
                min_value=0,
                max_value=channels - 1,
                step=1,
                key=f"inside_filter_channel_{layer}",
                persist_state="page",
            )
        st.caption(
            "Each tile is one filter's weights on that input channel: red weights add up "
            "bright pixels, blue ones subtract them. First-layer filters often look like "
            "small edge and blob detectors."
        )
    weights = filter_weights(model, layer, int(channel))
    title = f"{layer}, input channel {channel}"
    cols[0].plotly_chart(filter_grid(weights, title), key="inside_filters")


def templates_section(model: Any, names: list[str]) -> None:
    st.subheader("Class templates")
    try:
        templates = softmax_templates(model)
    except UserError as error:
        st.info(str(error))
        return
    cols = st.columns([1.5, 1])
    cols[0].plotly_chart(
        filter_grid(templates, "Weights per class", labels=names), key="inside_templates"
    )
    cols[1].caption(
        "This model has no convolutions: each class score is a weighted sum of the pixels. "
        "Pictured as images, the weights are templates: red pixels vote for the class when "
        f"bright, blue ones against it. Tiles run row by row: {', '.join(names)}."
    )


def feature_maps_tab(inspector: Inspector, image: np.ndarray) -> None:
    """Every channel of one layer's output for the image, 64 to a page."""
    if not inspector.spatial_layers:
        st.info("This model has no layers with feature maps: it reads the pixels directly.")
        return
    layers = inspector.spatial_layers
    first_conv = layers.index(inspector.conv_layers[0]) if inspector.conv_layers else 0
    cols = st.columns([2, 1])
    layer = cols[0].selectbox(
        "Layer", layers, index=first_conv, key="inside_fmap_layer", persist_state="page"
    )
    maps = inspector.feature_maps(layer, image)  # (h, w, c)
    pages = math.ceil(maps.shape[2] / MAPS_PER_PAGE)
    page = 0
    if pages > 1:
        page = cols[1].selectbox(
            "Channels",
            range(pages),
            format_func=lambda p: (
                f"{p * MAPS_PER_PAGE}-{min((p + 1) * MAPS_PER_PAGE, maps.shape[2]) - 1}"
            ),
            key=f"inside_fmap_page_{layer}",
            persist_state="page",
        )
    silent = int((maps.reshape(-1, maps.shape[2]).max(axis=0) <= 0).sum())
    st.caption(
        f"{layer} outputs {format_shape(maps.shape)}: {maps.shape[2]} maps of "
        f"{maps.shape[0]}x{maps.shape[1]}, bright where the channel responds. "
        f"{silent} of {maps.shape[2]} channels stay at 0 or below for this image."
    )
    side = math.ceil(math.sqrt(min(MAPS_PER_PAGE, maps.shape[2])))
    st.plotly_chart(
        feature_map_grid_figure(maps, layer, max_channels=MAPS_PER_PAGE, page=page),
        height=min(900, 220 + 80 * side),
        key="inside_fmaps",
    )


def gradcam_tab(run: RunSummary, inspector: Inspector, image: np.ndarray, names: list[str]) -> None:
    """Where the evidence for a class lies, beside the class probabilities."""
    if not inspector.conv_layers:
        st.info(
            "Grad-CAM needs a convolution layer and this model has none (softmax regression); "
            "its class templates are on the Layers and filters tab."
        )
        return
    probs = image_probabilities(run, image)
    predicted = names[int(probs.argmax())]
    cols = st.columns(2)
    choice = cols[0].selectbox(
        "Explain class",
        [PREDICTED, *range(inspector.num_classes)],
        format_func=lambda i: f"the predicted class ({predicted})" if i == PREDICTED else names[i],
        key="inside_cam_class",
        persist_state="page",
    )
    layer = cols[1].selectbox(
        "Conv layer",
        inspector.conv_layers,
        index=len(inspector.conv_layers) - 1,
        key="inside_cam_layer",
        persist_state="page",
        help="The last conv layer sees the largest parts of the image; earlier ones are finer.",
    )
    # the run's predicted class (mirror-averaged for a run with test-time flips)
    explained = int(probs.argmax()) if choice == PREDICTED else choice
    heat, index = inspector.gradcam(image, explained, layer)
    cols = st.columns([1, 1], gap="large")
    title = f"Grad-CAM for {names[index]} ({probs[index]:.1%}) on {layer}"
    cols[0].plotly_chart(gradcam_overlay_figure(image, heat, title), key="inside_gradcam")
    if not heat.any():
        cols[0].caption(f"Nothing in {layer} speaks for {names[index]} in this image.")
    else:
        cols[0].caption("Red: the regions whose activations raise this class's score most.")
    cols[1].plotly_chart(probability_bar_figure(probs, names), key="inside_probs")


def has_image(image: np.ndarray | None) -> bool:
    """True when there is an image; otherwise says where to choose one."""
    if image is None:
        st.info("Choose an image above first.")
    return image is not None


def render_inside() -> None:
    st.title("Inside the CNN")
    top = st.columns([1.2, 1], gap="large")
    with top[0]:
        run = model_run_picker("inside_run")
        model = require_model(run)  # a clear message for a missing or damaged model
        inspector = run_inspector(run)
        names = class_names(run, inspector.num_classes)
        image, caption = image_ui(run, inspector)
    with top[1]:
        image_summary(image, caption, run, names)

    tabs = st.tabs(TABS, key="inside_tab", on_change="rerun")  # only the open tab runs
    with tabs[0]:
        if tabs[0].open:
            layers_tab(model, inspector, names)
    with tabs[1]:
        if tabs[1].open and has_image(image):
            feature_maps_tab(inspector, image)
    with tabs[2]:
        if tabs[2].open and has_image(image):
            gradcam_tab(run, inspector, image, names)
    with tabs[3]:
        if tabs[3].open and has_image(image):
            render_concepts(image, run)


ensure_app_navigation()
render_inside()
