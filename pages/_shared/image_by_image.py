"""Compare's "image by image" section: what one run gets right and another wrong.

A helper of ``pages/compare.py``, not a page. For two chosen runs evaluated on the
same test set (same dataset, identical stored labels), two galleries with their
counts: right by the first and wrong by the second, and the reverse
(``cnn_core.insight.compare.disagreement``). Each image links into Inside the CNN on the run that
got it wrong, to see why.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.data.registry import Dataset
from cnn_core.insight.compare.disagreement import Disagreement, disagreement, same_test_set
from cnn_core.insight.labels import markdown_text
from cnn_core.store.runs import RunSummary
from pages._shared.common import optional_dataset
from pages._shared.figure_cache import image_tiles
from pages._shared.inside_link import image_link

GALLERY_LIMIT = 16
COLUMNS = 8
TILE_PX = 72


def pair_ui(chosen: Sequence[RunSummary], titles: Sequence[str]) -> tuple[int, int]:
    """Positions in `chosen` of the two runs to set against each other."""
    cols = st.columns(2)
    options = list(range(len(chosen)))
    first = cols[0].selectbox(
        "First run", options, index=0, format_func=titles.__getitem__, key="compare_img_first"
    )
    second = cols[1].selectbox(
        "Second run", options, index=1, format_func=titles.__getitem__, key="compare_img_second"
    )
    return int(first), int(second)


def gallery(
    dataset: Dataset,
    indices: np.ndarray,
    wrong_probs: np.ndarray,
    wrong_run: RunSummary,
    wrong_title: str,
    class_names: Sequence[str],
) -> None:
    """Up to GALLERY_LIMIT test images, each captioned with the wrong run's answer."""
    shown = indices[:GALLERY_LIMIT]
    if not len(shown):
        st.caption("None.")
        return
    scale = max(1, TILE_PX // dataset.info.image_shape[0])
    tiles = image_tiles(dataset.x_test[shown], scale)
    for start in range(0, len(shown), COLUMNS):
        row = st.columns(COLUMNS)
        for col, index, tile in zip(row, shown[start:], tiles[start:], strict=False):
            true, said = int(dataset.y_test[index]), int(wrong_probs[index].argmax())
            said_text = f"{wrong_title} said {class_names[said]}"
            caption = f"#{index} · true {class_names[true]} · {said_text}"
            col.image(tile, caption=caption)
            image_link(col, wrong_run.run_id, int(index))
    if len(indices) > GALLERY_LIMIT:
        st.caption(f"… and {len(indices) - GALLERY_LIMIT:,} more, the widest gaps shown first.")


def predictions_of(run: RunSummary) -> tuple[np.ndarray, np.ndarray] | None:
    """(probs, y_true) stored with the run, or None after saying why there are none."""
    evaluation = run.read_evaluation()
    try:
        if evaluation is None:
            raise UserError("it has no stored test-set evaluation yet")
        return run.read_predictions(len(evaluation.class_names), evaluation.n)
    except UserError as error:
        st.info(f"{markdown_text(run.run_id)} cannot be compared image by image: {error}.")
        return None


def disagreement_section(chosen: Sequence[RunSummary], titles: Sequence[str]) -> None:
    """Two chosen runs on the same test set: which images each alone gets right."""
    st.subheader("Image by image")
    first, second = pair_ui(chosen, titles)
    if first == second:
        st.info("Choose two different runs.")
        return
    runs, names = (chosen[first], chosen[second]), (titles[first], titles[second])
    datasets = {run.config.dataset if run.config else None for run in runs}
    if len(datasets) != 1 or None in datasets:
        st.info("These two runs were trained on different datasets: no shared test images.")
        return
    stored = [predictions_of(run) for run in runs]
    if None in stored:
        return
    (probs_a, y_a), (probs_b, y_b) = stored
    if not same_test_set(y_a, y_b) or probs_a.shape != probs_b.shape:
        st.info(
            "These two runs were evaluated on different test sets (the stored labels differ: "
            "the dataset changed in between), so their images cannot be paired."
        )
        return
    dataset = optional_dataset(datasets.pop(), "the test images cannot be shown")
    if dataset is None:
        return
    if not np.array_equal(dataset.y_test, y_a):
        st.warning("The test images on this machine are not the ones these runs were evaluated on.")
        return
    split = disagreement(y_a, probs_a, probs_b)
    summary_line(split, names)
    class_names = runs[0].read_evaluation().class_names
    a, b = (markdown_text(name) for name in names)
    st.markdown(f"**Right by {a}, wrong by {b}: {len(split.first_only):,}**")
    gallery(dataset, split.first_only, probs_b, runs[1], names[1], class_names)
    st.markdown(f"**Right by {b}, wrong by {a}: {len(split.second_only):,}**")
    gallery(dataset, split.second_only, probs_a, runs[0], names[0], class_names)


def summary_line(split: Disagreement, names: Sequence[str]) -> None:
    a, b = (markdown_text(name) for name in names)
    st.caption(
        f"Of {split.n:,} test images: both right {split.both_right:,}, both wrong "
        f"{split.both_wrong:,}, only {a} right {len(split.first_only):,}, only {b} right "
        f"{len(split.second_only):,}. Each caption gives the true class and the other run's "
        "answer; the link opens Inside the CNN on the run that got it wrong."
    )
