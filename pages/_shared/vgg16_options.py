"""The Train page's pretrained-VGG16 settings: model, weights, feature cache, estimates.

Renders only; the VGG16 logic is `models.vgg16` and its siblings, the cache
`training.feature_cache`.
"""

from __future__ import annotations

import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.insight.labels import format_bytes, format_duration
from cnn_core.models.plan import phase_parameters
from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD, uses_feature_cache, vgg16_label
from cnn_core.models.vgg16_estimate import estimate_seconds
from cnn_core.models.vgg16_weights import (
    WEIGHTS_BYTES,
    WEIGHTS_FILE,
    download_imagenet_weights,
    weights_problem,
)
from cnn_core.schema.config import (
    VGG_HEADS,
    VGG_INPUT_SIZES,
    VGG_WEIGHTS,
    ModelSpec,
    TrainConfig,
    Vgg16Spec,
)
from cnn_core.training import feature_cache

VGG = Vgg16Spec()  # the widgets start from Vgg16Spec's own defaults, never restated
VGG_DEFAULTS = {
    "train_vgg_mode": "fine_tune" if VGG.fine_tune else "feature_extraction",
    "train_vgg_size": VGG.input_size,
    "train_vgg_head": VGG.head,
    "train_vgg_units": VGG.dense_units,
    "train_vgg_dropout": VGG.dropout,
    "train_vgg_ft_epochs": VGG.fine_tune_epochs,
    "train_vgg_ft_lr": VGG.fine_tune_learning_rate,
    "train_vgg_weights": VGG.weights,
    "train_vgg_file": VGG.weights_file,
    "train_vgg_cache": VGG.cache_features,
}
WEIGHT_LABELS = {
    "imagenet": "ImageNet (Keras download)",
    "file": "A local weights file",
    "none": "None: random weights (not pretrained)",
}
PHASE_LABELS = {PHASE_HEAD: "Head (base frozen)", PHASE_FINE_TUNE: "Fine-tuning (block5 unfrozen)"}


def vgg16_inputs() -> ModelSpec:
    """The VGG16 settings widgets; returns the spec they describe."""
    for key, value in VGG_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    mode = st.radio(
        "Use of the pretrained base",
        ["feature_extraction", "fine_tune"],
        format_func={
            "feature_extraction": "Feature extraction (base frozen)",
            "fine_tune": "Fine-tuning (then block5 unfrozen)",
        }.get,
        horizontal=True,
        key="train_vgg_mode",
        persist_state="session",
    )
    size, head, units, dropout = _shape_inputs()
    fine_tune = mode == "fine_tune"
    ft_epochs, ft_lr = _fine_tune_inputs() if fine_tune else _fine_tune_defaults()
    weights, weights_file = _weights_inputs()
    cache = st.checkbox(
        "Compute the frozen part once (feature cache)",
        key="train_vgg_cache",
        persist_state="session",
        help="The frozen layers give the same output for an image every epoch: compute it "
        "once and train the layers above on it. Off (or with augmentation), the whole "
        "network runs every epoch.",
    )
    vgg = Vgg16Spec(
        input_size=int(size),
        head=head,
        dense_units=int(units),
        dropout=float(dropout),
        fine_tune=fine_tune,
        fine_tune_epochs=int(ft_epochs),
        fine_tune_learning_rate=float(ft_lr),
        weights=weights,
        weights_file=weights_file.strip(),
        cache_features=cache,
    )
    st.caption(f"Model: **{vgg16_label(vgg)}**")
    return ModelSpec(kind="vgg16", vgg16=vgg)


def _shape_inputs() -> tuple[int, str, int, float]:
    """The network's shape widgets in a row: (input size, head, dense units, dropout)."""
    cols = st.columns(4)
    size = cols[0].selectbox(
        "Input size (px)",
        VGG_INPUT_SIZES,
        key="train_vgg_size",
        persist_state="session",
        help="Images are resized inside the model; VGG16 needs at least 32 px. "
        "Larger sizes see more detail and cost more per image.",
    )
    head = cols[1].selectbox(
        "Head",
        VGG_HEADS,
        format_func={"gap": "Global average pool", "flatten": "Flatten"}.get,
        key="train_vgg_head",
        persist_state="session",
    )
    units = cols[2].number_input(
        "Dense units", step=64, key="train_vgg_units", persist_state="session"
    )
    dropout = cols[3].number_input(
        "Dropout", step=0.1, format="%.2f", key="train_vgg_dropout", persist_state="session"
    )
    return size, head, units, dropout


def _fine_tune_defaults() -> tuple[int, float]:
    return VGG_DEFAULTS["train_vgg_ft_epochs"], VGG_DEFAULTS["train_vgg_ft_lr"]


def _fine_tune_inputs() -> tuple[int, float]:
    """The fine-tuning phase's widgets: (epochs after the head's, learning rate)."""
    cols = st.columns(2)
    ft_epochs = cols[0].number_input(
        "Fine-tuning epochs",
        step=1,
        key="train_vgg_ft_epochs",
        persist_state="session",
        help="After the head epochs.",
    )
    ft_lr = cols[1].number_input(
        "Fine-tuning learning rate",
        step=1e-5,
        format="%.6f",
        key="train_vgg_ft_lr",
        persist_state="session",
    )
    return ft_epochs, ft_lr


def _weights_inputs() -> tuple[str, str]:
    """The weights widgets: (source, local file path or "")."""
    weights = st.radio(
        "Weights",
        VGG_WEIGHTS,
        format_func=WEIGHT_LABELS.get,
        horizontal=True,
        key="train_vgg_weights",
        persist_state="session",
    )
    weights_file = ""
    if weights == "file":
        weights_file = st.text_input(
            "Weights file path",
            key="train_vgg_file",
            persist_state="session",
            placeholder=f"/path/to/{WEIGHTS_FILE}",
            help="A Keras .h5 weights file of VGG16's convolutional base (include_top=False).",
        )
    return weights, weights_file


def weights_ready(vgg: Vgg16Spec) -> bool:
    """Show what the chosen weights need (a download, a file); True when they are usable."""
    problem = weights_problem(vgg)
    if not problem:
        return True
    st.warning(problem)
    if vgg.weights == "imagenet" and st.button(
        f"Download ImageNet weights ({WEIGHTS_BYTES / 1e6:.1f} MB)",
        icon=":material/download:",
        key="vgg_download_weights",
    ):
        bar = st.progress(0.0, text="Starting the download…")

        def show(done: int, total: int) -> None:
            bar.progress(
                min(1.0, done / total),
                text=f"Downloading {WEIGHTS_FILE}: {done / 1e6:.1f} / {total / 1e6:.1f} MB",
            )

        try:
            download_imagenet_weights(show)
        except UserError as error:
            bar.empty()  # no stale "Downloading 0.0 / 58.9 MB" under the error
            st.error(str(error))
            return False
        st.rerun()
    return False


def vgg16_summary(
    config: TrainConfig,
    input_shape: tuple[int, int, int],
    n_classes: int,
    n_images: int,
    n_test: int = 0,
) -> None:
    """Both phases' parameter counts, the estimated time and the feature cache, before launch.

    Args:
        n_images: training plus validation images one epoch reads.
        n_test: test images (their features are computed once too, for the evaluation).
    """
    phases = phase_parameters(config.model, input_shape, n_classes)
    cols = st.columns(len(phases))
    for col, phase in zip(cols, phases, strict=True):
        col.metric(
            f"{PHASE_LABELS[phase.phase]}: trainable",
            f"{phase.trainable:,}",
            help=f"of {phase.total:,} parameters",
        )
    estimate = estimate_seconds(config, input_shape, n_classes, n_images, n_test)
    parts = []
    if estimate["features"]:
        parts.append(
            f"features of all {n_images + n_test:,} images (training, validation, test) "
            f"once: {format_duration(estimate['features'])} (first run only)"
        )
    parts.append(f"head epoch {format_duration(max(1.0, estimate[PHASE_HEAD]))}")
    if PHASE_FINE_TUNE in estimate:
        parts.append(f"fine-tuning epoch {format_duration(max(1.0, estimate[PHASE_FINE_TUNE]))}")
    how = "on cached features" if uses_feature_cache(config) else "whole network every epoch"
    st.caption(
        f"Estimated on this machine ({n_images:,} images an epoch, {how}): " + " · ".join(parts)
    )
    cache_panel()


def cache_panel() -> None:
    """The feature cache's size, with a button to clear it."""
    size, cap = feature_cache.total_bytes(), feature_cache.cap_bytes()
    cols = st.columns([3, 1])
    cols[0].caption(
        f"Feature cache: {format_bytes(size)} of {format_bytes(cap)} in "
        f"`{feature_cache.cache_dir()}` ({len(feature_cache.entries())} entries)"
    )
    # Button keys do not start with "train_": the page saves those as form values.
    if cols[1].button("Clear cache", key="vgg_clear_cache", disabled=size == 0):
        freed = feature_cache.clear()
        st.toast(f"Feature cache cleared ({format_bytes(freed)} freed)")
        st.rerun()
