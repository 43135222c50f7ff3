"""The fast recipe and minutes to accuracy on the pages (Train's form and finished view, Compare).

`cnn_core.schema.recipes` holds the recipe and why each choice helps;
`cnn_core.insight.accuracy_estimate` computes the times. Here: the "Fast recipe"
button that fills the Train form (through an on_click callback, since the form's
widgets are drawn later in the run or were drawn already), and the captions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from cnn_core.data.registry import Dataset, dataset_title
from cnn_core.insight.accuracy_estimate import (
    estimate,
    fast_standing,
    load_figures,
    run_reach_text,
)
from cnn_core.insight.machine_speed import machine_speed
from cnn_core.schema.config import PRESETS, TrainConfig
from cnn_core.schema.recipes import (
    FAST_DATASETS,
    FAST_VARIANTS,
    fast,
    fast_name,
    fast_notes,
    matching_recipe,
)
from cnn_core.store.runs import RunSummary, list_runs

AUGMENT_FIELDS = ("rotation", "zoom", "translation", "contrast")


def form_values(config: TrainConfig) -> dict[str, Any]:
    """The Train form's widget values (by key) that a recipe fills: network, optimizer,
    schedule, batch, epochs, label smoothing, precision, early stopping and augmentation.
    Seed, subset, validation size and name stay as the person set them. `config.model`
    must be one of `PRESETS` (StopIteration otherwise): the preset picker names the network."""
    preset = next(name for name, spec in PRESETS.items() if spec == config.model)
    values: dict[str, Any] = {
        "train_kind": config.model.kind,
        "train_preset": preset,
        "train_optimizer": config.optimizer.name,
        "train_lr": config.optimizer.learning_rate,
        "train_schedule": config.optimizer.schedule,
        "train_batch": config.fit.batch_size,
        "train_epochs": config.fit.epochs,
        "train_early": config.fit.early_stopping,
        "train_label_smoothing": config.fit.label_smoothing,
        "train_mixed_precision": config.fit.mixed_precision,
        "train_aug_flip": config.augment.flip,
        "train_aug_mirror": config.augment.mirror_average,
    }
    values |= {f"train_aug_{name}": getattr(config.augment, name) for name in AUGMENT_FIELDS}
    return values


def notes_markdown() -> str:
    """Why each choice of this machine's fast recipe helps, as a Markdown list (the
    button's help)."""
    notes = fast_notes(fast_name())
    return "Why each choice helps:\n\n" + "\n".join(f"- {note}" for note in notes)


def fast_recipe_choice(dataset: Dataset, fill_layers: Callable[[], None]) -> None:
    """The "Fast recipe" button for a built-in dataset; `fill_layers` copies the chosen
    preset's layers into the layer widgets (the Train page's `apply_preset`). Not offered
    where the benchmark measured it slower than the default recipe (`fast_standing`)."""
    key = dataset.info.key
    if key not in FAST_DATASETS:
        return
    runs = list_runs()
    n_images = len(dataset.y_train)
    standing = fast_standing(dataset.info, n_images, machine_speed(runs), load_figures())
    if not standing.offered:
        return

    def fill() -> None:
        for name, value in form_values(fast(key)).items():
            st.session_state[name] = value
        fill_layers()

    st.button(  # a short label: the Data column is narrow; the help names the dataset
        "Fast recipe",
        icon=":material/bolt:",
        key="train_fast_recipe",
        on_click=fill,
        help=f"**The fast recipe for {dataset_title(key)}.** {standing.text} "
        "What it sets, and why: *Why it is fast*, below.",
    )
    # The reasons in a panel of their own: as the button's tooltip they covered the
    # sidebar and were cut off at the window's edge.
    with st.popover("Why it is fast", icon=":material/help:"):
        st.markdown(notes_markdown())


def time_estimate(config: TrainConfig, dataset: Dataset) -> None:
    """Minutes to the dataset's headline accuracy on this machine, before a CNN launches."""
    if config.model.kind != "cnn":
        return
    runs = list_runs()
    said = estimate(
        config, dataset.info, len(dataset.y_train), runs, machine_speed(runs), load_figures()
    ).text()
    lead = "The fast recipe. " if matching_recipe(config) in FAST_VARIANTS else ""
    st.caption(f":material/timer: {lead}{said}")


def reach_line(run: RunSummary, runs: list[RunSummary] | None = None) -> None:
    """'Reached 92% ... after N · the fast recipe: M on this machine' under a run's results."""
    runs = list_runs() if runs is None else runs
    if text := run_reach_text(run, runs, machine_speed(runs), load_figures()):
        st.caption(f":material/timer: {text}")
