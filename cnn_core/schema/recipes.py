"""Whole training recipes (network, optimizer, schedule, batch, epochs, augmentation).

A preset in `config.PRESETS` is a network only; a recipe is everything a run needs
besides its data, so that "train it the fast way" is one choice. The recipes here
are the ones `benchmarks/bench_time_to_accuracy.py` races against each other:

- `tutorial`: the Keras MNIST convnet as its tutorial trains it (Adam 1e-3 at a
  constant rate, batch 128, 10 epochs, no early stopping): the reference.
- `default`: what the Train page starts with.
- `fast`: the recipe meant as the quickest way to a good accuracy on a 2-core CPU
  (see `FAST_NOTES` for why each choice is there); the benchmark is
  what measures whether it is.

The Train page offers `fast` as one choice for each built-in dataset
(`FAST_DATASETS`); `matching_recipe` tells which recipe a run followed, so that
its time to accuracy can be set beside the fast recipe's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cnn_core.schema.config import (
    DEFAULT_PRESET,
    PRESETS,
    FitSpec,
    OptimizerSpec,
    TrainConfig,
)

TUTORIAL_PRESET = "Keras MNIST convnet: 3x3 conv 32 -> 3x3 conv 64 -> dense 128 + dropout 0.5"

FAST_DATASETS = ("mnist", "fashion_mnist", "cifar10")  # the built-in datasets it is offered for


def tutorial(dataset: str, seed: int = 42) -> TrainConfig:
    """Recipe (a): the tutorial network and its tutorial's training."""
    return TrainConfig(
        dataset=dataset,
        model=PRESETS[TUTORIAL_PRESET],
        optimizer=OptimizerSpec(name="adam", learning_rate=1e-3, schedule="constant"),
        fit=FitSpec(batch_size=128, epochs=10, early_stopping=False),
        seed=seed,
        name="tutorial recipe",
    )


def default(dataset: str, seed: int = 42) -> TrainConfig:
    """Recipe (b): the Train page's defaults."""
    return TrainConfig(dataset=dataset, model=PRESETS[DEFAULT_PRESET], seed=seed, name="default")


FAST_NOTES = (
    "The studio's default network (two 3x3 conv blocks, no batch norm): cheap per image on a "
    "CPU; batch norm halved the training speed here (benchmarks/README.md).",
    "Batch 256: oneDNN's convolutions run more images per second in larger batches on a CPU, "
    "so an epoch takes less time than at the default's 64.",
    "A higher rate (3e-3) for the larger batch, with cosine decay to 0 over the 10 epochs: "
    "big steps early, fine ones at the end (no early stopping: the schedule's small, "
    "accurate steps come last).",
    "No augmentation: within a few minutes it slows the climb more than it helps; the "
    "benchmark measured random shifts and flips at 160 s to 92% against 100-120 s without.",
)


def fast(dataset: str, seed: int = 42) -> TrainConfig:
    """Recipe (c): the fast recipe for `dataset`: large batches at a higher rate, cosine
    decay over 10 epochs, no augmentation (measured: `benchmarks/README.md`)."""
    return TrainConfig(
        dataset=dataset,
        model=PRESETS[DEFAULT_PRESET],
        optimizer=OptimizerSpec(name="adam", learning_rate=3e-3, schedule="cosine"),
        fit=FitSpec(batch_size=256, epochs=10, early_stopping=False),
        seed=seed,
        name="fast recipe",
    )


RECIPES: dict[str, Callable[[str, int], TrainConfig]] = {
    "tutorial": tutorial,
    "default": default,
    "fast": fast,
}


def recipe(name: str, dataset: str, seed: int = 42) -> TrainConfig:
    """The named recipe's config for `dataset` and `seed`.

    Raises:
        KeyError: no recipe of that name.
    """
    return RECIPES[name](dataset, seed)


def with_epochs(config: TrainConfig, epochs: int) -> TrainConfig:
    """`config` trained for `epochs` instead (a benchmark's quick mode)."""
    return replace(config, fit=replace(config.fit, epochs=epochs))


def _recipe_core(config: TrainConfig) -> TrainConfig:
    """`config` without what tells runs of one recipe apart (seed, name, seed group)."""
    return replace(config, seed=0, name="", group="")


def same_recipe(a: TrainConfig, b: TrainConfig) -> bool:
    """Whether two configs train alike but for their seed, name and seed group."""
    return _recipe_core(a) == _recipe_core(b)


def matching_recipe(config: TrainConfig) -> str | None:
    """The name of the recipe `config` follows exactly (seed, name and group aside), or None."""
    return next(
        (name for name, make in RECIPES.items() if same_recipe(config, make(config.dataset, 0))),
        None,
    )
