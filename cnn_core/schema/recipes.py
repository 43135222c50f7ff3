"""Whole training recipes (network, optimizer, schedule, batch, epochs, augmentation).

A preset in `config.PRESETS` is a network only; a recipe is everything a run needs
besides its data, so that "train it the fast way" is one choice. The recipes here
are the ones `benchmarks/bench_time_to_accuracy.py` races against each other:

- `tutorial`: the Keras MNIST convnet as its tutorial trains it (Adam 1e-3 at a
  constant rate, batch 128, 10 epochs, no early stopping): the reference.
- `default`: what the Train page starts with.
- `fast_bf16` and `fast_fp32`: the recipe meant as the quickest way to a good
  accuracy on a 2-core CPU, for CPUs with and without bfloat16 instructions
  (`fast_notes` says why each choice is there); the benchmark is what measures
  whether it is. `fast` is the variant for this machine.

The Train page offers `fast` as one choice for each built-in dataset
(`FAST_DATASETS`); `matching_recipe` tells which recipe a run followed, so that
its time to accuracy can be set beside the fast recipe's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cnn_core.base.cpu import has_bfloat16
from cnn_core.schema.config import (
    DEFAULT_PRESET,
    FAST_FP32_PRESET,
    FAST_PRESET,
    PRESETS,
    AugmentSpec,
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


FAST_EPOCHS = 16
FLIP_DATASETS = ("fashion_mnist", "cifar10")  # mirror images show the same class; not digits

# The fast recipe comes in two variants, one per kind of CPU, alike but for the network
# and its arithmetic: `fast_bf16` where the CPU multiplies bfloat16 in hardware (Intel
# AMX, AVX-512 BF16), `fast_fp32` elsewhere. `fast` is the one for this machine.
FAST_BF16 = "fast_bf16"
FAST_FP32 = "fast_fp32"
FAST_VARIANTS = (FAST_BF16, FAST_FP32)

FAST_BF16_NOTES = (
    "The studio's default shape (two 3x3 conv blocks, no batch norm: batch norm halved the "
    "training speed here), 1.5x wider (48 and 96 filters), dense 256 with dropout 0.4: with "
    "the rest of this recipe the default network stalled near 93.1% on Fashion-MNIST, this "
    "one passed 93% in half the epochs, at about twice the time per epoch.",
    "Mixed precision (bfloat16 arithmetic, float32 weights), as this CPU has bfloat16 "
    "instructions: 2.7 times the images per second of float32 on our 2-core Intel machine "
    "(AMX), at the same accuracy per epoch.",
)
FAST_FP32_NOTES = (
    "A float32 network for CPUs without bfloat16 instructions: 16 filters in the first "
    "convolution, 64 in the second, no batch norm (it halved the training speed on our "
    "machines), dense 256 with dropout 0.4. A profile put a third of the default "
    "network's training step in max-pooling and its one-channel first convolution; "
    "halving those filters halves that work and the second convolution's inputs. "
    "Measured on Fashion-MNIST (2-core AMD EPYC, 2 seeds): 16 epochs in 257 s against "
    "the default network's 323 s, the same test accuracy within noise (92.72% against "
    "92.84%).",
    "Float32, as this CPU has no bfloat16 instructions. Where a CPU has them, the fast "
    "recipe trains a 1.5x wider network in bfloat16 instead; without them that network "
    "ran 3.5 times slower per image than the default one (measured on a 2-core AMD EPYC), "
    "more time than its accuracy repays.",
)
FAST_NOTES = (
    "Batch 256: oneDNN's convolutions run more images per second in larger batches on a CPU, "
    "so an epoch takes less time than at the default's 64.",
    "A higher rate (3e-3) for the larger batch, with cosine decay to 0 over the epochs: "
    "big steps early, fine ones at the end (no early stopping: the schedule's small, "
    "accurate steps come last).",
    "Label smoothing 0.1: the loss stops rewarding ever more confident outputs. Measured "
    "on Fashion-MNIST (float32 variant, 2 seeds): 0.3 points more test accuracy than "
    "without, and 92% one epoch sooner.",
    "Random horizontal flips for clothes and CIFAR-10 pictures (a mirrored shirt is still "
    "a shirt; a mirrored digit is not, so none for MNIST): more pictures to learn from for "
    "the wider network (for the default network they changed nothing in 16 epochs).",
    "Test-time flips where training flips: every prediction averages the network's "
    "probabilities for the picture and for its mirror image, two looks for the cost of "
    "one more prediction, no extra training. Measured on "
    "Fashion-MNIST (float32 variant, 3 seeds): 93.04% test accuracy with them against "
    "92.74% on single images (0.06 to 0.51 points more, by seed).",
)


def fast_name() -> str:
    """The fast recipe's variant for this machine's CPU."""
    return FAST_BF16 if has_bfloat16() else FAST_FP32


def fast_notes(variant: str) -> tuple[str, ...]:
    """Why each choice of the fast recipe's `variant` helps, one note per choice."""
    return (FAST_BF16_NOTES if variant == FAST_BF16 else FAST_FP32_NOTES) + FAST_NOTES


def _fast(dataset: str, seed: int, preset: str, mixed: bool) -> TrainConfig:
    flip = "horizontal" if dataset in FLIP_DATASETS else "none"
    return TrainConfig(
        dataset=dataset,
        model=PRESETS[preset],
        optimizer=OptimizerSpec(name="adam", learning_rate=3e-3, schedule="cosine"),
        fit=FitSpec(
            batch_size=256,
            epochs=FAST_EPOCHS,
            early_stopping=False,
            label_smoothing=0.1,
            mixed_precision=mixed,
        ),
        augment=AugmentSpec(flip=flip, mirror_average=flip != "none"),
        seed=seed,
        name="fast recipe",
    )


def fast_bf16(dataset: str, seed: int = 42) -> TrainConfig:
    """Recipe (c) for CPUs with bfloat16 instructions: the fast network in mixed
    precision, large batches at a higher rate, cosine decay, label smoothing, flips
    where mirror images keep their class (measured: `benchmarks/README.md`)."""
    return _fast(dataset, seed, FAST_PRESET, mixed=True)


def fast_fp32(dataset: str, seed: int = 42) -> TrainConfig:
    """Recipe (c) for other CPUs: `fast_bf16`'s training, in float32, of a network with
    a thinner first convolution than the default's and the fast net's dense layer."""
    return _fast(dataset, seed, FAST_FP32_PRESET, mixed=False)


def fast(dataset: str, seed: int = 42) -> TrainConfig:
    """The fast recipe for `dataset` on this machine (`fast_name`)."""
    return RECIPES[fast_name()](dataset, seed)


RECIPES: dict[str, Callable[[str, int], TrainConfig]] = {
    "tutorial": tutorial,
    "default": default,
    FAST_BF16: fast_bf16,
    FAST_FP32: fast_fp32,
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
