"""Whole training recipes (network, optimizer, schedule, batch, epochs, augmentation).

A preset in `config.PRESETS` is a network only; a recipe is everything a run needs
besides its data, so that "train it the fast way" is one choice. The recipes here
are the ones `benchmarks/bench_time_to_accuracy.py` races against each other:

- `tutorial`: the Keras MNIST convnet as its tutorial trains it (Adam 1e-3 at a
  constant rate, batch 128, 10 epochs, no early stopping): the reference.
- `default`: what the Train page starts with.
- `fast`: the recipe meant as the quickest way to a good accuracy on a 2-core CPU,
  per dataset (see `fast_notes` for why each choice is there); the benchmark is
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
    AugmentSpec,
    FitSpec,
    OptimizerSpec,
    TrainConfig,
)

TUTORIAL_PRESET = "Keras MNIST convnet: 3x3 conv 32 -> 3x3 conv 64 -> dense 128 + dropout 0.5"

# Digits must not be mirrored (a mirrored 2 is no digit); clothes and CIFAR's
# objects may be: the left and right shoe are both shoes.
FLIPS_ALLOWED = {"fashion_mnist": True, "cifar10": True, "mnist": False}


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
    "Batch 256: oneDNN's convolutions run more images per second in larger batches on a CPU.",
    "A higher rate (3e-3) for the larger batch, with cosine decay to 0: big steps early, "
    "fine ones at the end.",
    "15 epochs, no early stopping: the cosine schedule reaches its small, accurate steps "
    "only at its end.",
    "Small random shifts (and left-right flips where the classes allow it) so the longer "
    "run does not overfit.",
)
FLIP_NOTES = {
    True: "Small random shifts and left-right flips (a mirrored shoe is still a shoe), so the "
    "longer run does not overfit.",
    False: "Small random shifts but no flips (a mirrored 2 is no digit), so the longer run does "
    "not overfit.",
}
FAST_DATASETS = tuple(FLIPS_ALLOWED)  # the built-in datasets the Train page offers it for


def fast_notes(dataset: str) -> tuple[str, ...]:
    """Why each choice of `fast(dataset)` helps, its augmentation note said for this dataset."""
    return (*FAST_NOTES[:-1], FLIP_NOTES[FLIPS_ALLOWED.get(dataset, False)])


def fast(dataset: str, seed: int = 42) -> TrainConfig:
    """Recipe (c): the fast recipe for `dataset` (built-in datasets; others get its core)."""
    flip = "horizontal" if FLIPS_ALLOWED.get(dataset, False) else "none"
    return TrainConfig(
        dataset=dataset,
        model=PRESETS[DEFAULT_PRESET],
        optimizer=OptimizerSpec(name="adam", learning_rate=3e-3, schedule="cosine"),
        fit=FitSpec(batch_size=256, epochs=15, early_stopping=False),
        augment=AugmentSpec(flip=flip, translation=0.05),
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
