"""Predict (and Inside) say when an image does not look like the training data.

The score and its threshold are `cnn_core.insight.novelty`'s; they are fitted once per
model version and dataset location (a bounded sample: a few seconds for a small
CNN) and shared by every session.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.data.registry import dataset_title, find_dataset, find_local
from cnn_core.insight.labels import markdown_text
from cnn_core.insight.novelty import Detector, fit_detector
from cnn_core.store.runs import RunSummary
from pages._shared.common import cached_dataset, cached_model

FIT_IMAGES = 5000  # training images the class means and covariance come from
HELDOUT_IMAGES = 2000  # test images that set the threshold


@st.cache_resource(max_entries=4, show_spinner="Learning what the training images look like…")
def _detector(model_path: str, mtime: float, dataset: str, location: str) -> Detector:
    data = cached_dataset(dataset, location)
    model = cached_model(model_path, mtime)
    return fit_detector(
        model,
        data.x_train,
        data.y_train,
        data.x_test,
        fit_images=FIT_IMAGES,
        heldout_images=HELDOUT_IMAGES,
    )


def run_detector(run: RunSummary) -> Detector | None:
    """The run's novelty detector, or None (with a caption saying why there is no check)."""
    key = run.config.dataset if run.config else None
    info = find_dataset(key)
    location = find_local(info) if info else None
    if info is None or location is None:
        st.caption(
            "No check for unusual images: the training data of this model is not on this server."
        )
        return None
    try:
        return _detector(str(run.model_path), run.model_version(), info.key, str(location))
    except (UserError, ValueError) as error:
        st.caption(f"No check for unusual images: {error}")
        return None


def scores_of(detector: Detector | None, images: np.ndarray) -> list[float | None]:
    """One score per image (n, h, w, c) in [0, 255]; Nones without a detector."""
    if detector is None:
        return [None] * len(images)
    return [float(s) for s in detector.scores(images)]


def is_unusual(detector: Detector | None, score: float | None) -> bool:
    """True when the score is above the detector's threshold."""
    return detector is not None and score is not None and score > detector.check.threshold


def unusual_text(dataset: str | None, figures: str) -> str:
    """The warning for an image unlike the training data of `dataset` (a key).

    The dataset's title goes in the parentheses, not before "images": an imported
    dataset's title starts "My images: …" ("the My images: Shapes images" read twice).
    """
    source = f"{markdown_text(dataset_title(dataset))}; " if dataset else ""
    return (
        f"**This image does not look like the images this model was trained on** "
        f"({source}{figures}). The model can only answer with one of the classes it knows, "
        "so this prediction may well be wrong, however sure it looks."
    )


def show_verdict(detector: Detector | None, score: float | None, dataset: str | None) -> None:
    """A warning for an image unlike the training data, else a one-line caption."""
    if detector is None or score is None:
        return
    check = detector.check
    figures = (
        f"novelty score {score:,.1f}; {1 - check.rate:.0%} of the test images score "
        f"below {check.threshold:,.1f}"
    )
    if is_unusual(detector, score):
        st.warning(unusual_text(dataset, figures), icon=":material/help:")
    else:
        st.caption(f"Looks like the images the model was trained on ({figures}).")


def check_image(run: RunSummary, image: np.ndarray) -> None:
    """The verdict for one prepared image (h, w, c) in [0, 255] of the run's model."""
    detector = run_detector(run)
    dataset = run.config.dataset if run.config else None
    show_verdict(detector, scores_of(detector, image[np.newaxis])[0], dataset)
