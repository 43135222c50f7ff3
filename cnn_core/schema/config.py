"""The training configuration: typed frozen dataclasses, validation, presets.

One `TrainConfig` travels from the Train page to the worker and is saved with
every run (`config.json`), so a run can be rebuilt from its folder. Nothing
here imports TensorFlow: the config is validated before TensorFlow sees it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cnn_core.base.errors import UserError
from cnn_core.schema.records import SCHEMA_VERSION

MODEL_KINDS = ("softmax", "cnn", "vgg16")
PADDINGS = ("same", "valid")
ACTIVATIONS = ("relu", "elu", "gelu", "tanh", "sigmoid")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
# How the learning rate moves during a run: held constant, cosine decay from the
# chosen rate to 0 over all epochs' batches, or halved when the validation loss
# has not improved for an epoch (Keras' ReduceLROnPlateau).
LR_SCHEDULES = ("constant", "cosine", "plateau")

# Allowed ranges: (low, high), both inclusive. Messages quote them.
FILTERS_RANGE = (1, 1024)
KERNEL_RANGE = (1, 15)
CONV_BLOCKS_RANGE = (0, 8)
DENSE_UNITS_RANGE = (1, 8192)
DENSE_LAYERS_RANGE = (0, 4)
DROPOUT_RANGE = (0.0, 0.95)
LEARNING_RATE_RANGE = (1e-6, 1.0)
MOMENTUM_RANGE = (0.0, 0.999)
# Gradient clipping: the largest norm each weight's gradient may have (0 = off). Keras
# rescales any gradient longer than this; 0.1-10 are the usual values.
CLIPNORM_RANGE = (0.0, 100.0)
# Label smoothing: the share of each training target spread evenly over all classes
# (0 = plain one-hot targets); 0.1 is the usual value, above 0.5 the target is mostly noise.
LABEL_SMOOTHING_RANGE = (0.0, 0.5)
BATCH_SIZE_RANGE = (1, 4096)
EPOCHS_RANGE = (1, 500)
PATIENCE_RANGE = (1, 100)
SEED_RANGE = (0, 2**31 - 1)
# Pretrained VGG16 (kind "vgg16"): Keras' VGG16 needs at least 32 x 32 input;
# 224 is the size it was trained at on ImageNet.
VGG_INPUT_SIZE_RANGE = (32, 224)
VGG_INPUT_SIZES = (32, 48, 64, 96, 128, 160, 224)  # the sizes the Train page offers
VGG_HEADS = ("gap", "flatten")  # global average pooling or flatten before the Dense
VGG_WEIGHTS = ("imagenet", "file", "none")  # Keras' download, a local file, random
VGG_FINE_TUNE_EPOCHS_RANGE = (1, 500)


class ConfigError(UserError):
    """One or more invalid settings; `problems` lists one message per field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ConvBlock:
    """One convolution block: Conv2D -> optional BatchNorm -> optional 2x2 max-pool."""

    filters: int = 32
    kernel_size: int = 3  # square kernels, k x k
    padding: str = "same"  # "same" keeps the size, "valid" shrinks it by k - 1
    activation: str = "relu"
    pool: bool = True  # 2x2 max-pooling, stride 2 (halves height and width, floor)
    batch_norm: bool = False


@dataclass(frozen=True)
class DenseLayer:
    """One hidden fully connected layer, followed by dropout when rate > 0."""

    units: int = 128
    dropout: float = 0.0


@dataclass(frozen=True)
class Vgg16Spec:
    """The settings of a pretrained-VGG16 model (kind "vgg16"; see `cnn_core.models.vgg16`).

    Phase 1 trains the head on the frozen convolutional base for `fit.epochs`
    epochs; with `fine_tune`, phase 2 unfreezes block5 and trains
    `fine_tune_epochs` more at `fine_tune_learning_rate`.
    """

    input_size: int = 32  # images are resized to input_size x input_size inside the model
    head: str = "gap"  # one of VGG_HEADS
    dense_units: int = 256
    dropout: float = 0.5
    fine_tune: bool = False
    fine_tune_epochs: int = 5
    fine_tune_learning_rate: float = 1e-5
    weights: str = "imagenet"  # one of VGG_WEIGHTS; "none" is labelled "not pretrained"
    weights_file: str = ""  # the local weights file when weights == "file"
    cache_features: bool = True  # train on cached frozen-base outputs when possible


@dataclass(frozen=True)
class ModelSpec:
    """What to build: the softmax baseline, a CNN from blocks, or pretrained VGG16."""

    kind: str = "cnn"  # one of MODEL_KINDS
    conv_blocks: tuple[ConvBlock, ...] = ()
    dense_layers: tuple[DenseLayer, ...] = ()
    vgg16: Vgg16Spec | None = None  # the VGG16 settings when kind == "vgg16"


@dataclass(frozen=True)
class OptimizerSpec:
    """How the weights move: the optimizer, its learning rate and how the rate changes."""

    name: str = "adam"  # one of OPTIMIZERS
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # one of LR_SCHEDULES (cosine: see the presets' note)
    momentum: float = 0.9  # used by SGD only
    # Gradient clipping: each weight's gradient is rescaled to at most this norm before
    # the update (Keras' `clipnorm`), so one bad batch cannot throw the weights far;
    # 0 = off. Configs saved before the field existed load with it off.
    clipnorm: float = 0.0


@dataclass(frozen=True)
class FitSpec:
    """How long and in what steps to train, and when to stop early."""

    batch_size: int = 64
    epochs: int = 10
    early_stopping: bool = True  # stop when the validation loss stops improving
    patience: int = 3  # epochs without improvement before stopping
    restore_best_weights: bool = True
    # Label smoothing (0 = off): the loss aims at 1 - s + s/k for the true class and
    # s/k for the others (k classes) instead of 1 and 0, so the network stops pushing
    # its confident outputs further. Configs saved before the field existed load with it off.
    label_smoothing: float = 0.0
    # Mixed precision: a CNN's layers multiply in bfloat16, its weights stay float32
    # (`cnn_core.models.precision`); faster only on CPUs with bfloat16 instructions
    # (`cnn_core.base.cpu.has_bfloat16`). The saved model is float32 either way.
    mixed_precision: bool = False


@dataclass(frozen=True)
class AugmentSpec:
    """Random changes to training images (Keras preprocessing layers, off at inference)."""

    flip: str = "none"  # one of FLIPS
    rotation: float = 0.0  # up to this fraction of a full turn, either way
    zoom: float = 0.0  # up to this fraction in or out
    translation: float = 0.0  # up to this fraction of the height / width, either way
    contrast: float = 0.0  # contrast factor drawn from [1 - c, 1 + c]
    # Test-time flips: every prediction of the run (its test evaluation, Predict, Inside,
    # Evaluate's unlabeled images) is the mean of the model's probabilities for the image
    # and for its left-right mirror image. Only with horizontal flips in training. Not a
    # change to training images, so not part of `active`.
    mirror_average: bool = False

    @property
    def active(self) -> bool:
        """Whether any change to training images is switched on."""
        values = (self.rotation, self.zoom, self.translation, self.contrast)
        return self.flip != "none" or any(v > 0 for v in values)


FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
MIRRORING_FLIPS = ("horizontal", "horizontal_and_vertical")  # what mirror averaging needs
AUGMENT_RANGES = {"rotation": (0.0, 0.5), "zoom": (0.0, 0.9), "translation": (0.0, 0.5)}
AUGMENT_RANGES["contrast"] = (0.0, 0.9)


def augment_problems(spec: AugmentSpec) -> list[str]:
    """What is wrong with an augmentation spec, one message per field."""
    problems: list[str] = []
    _check_choice(problems, "augmentation flip", spec.flip, FLIPS)
    for name, bounds in AUGMENT_RANGES.items():
        _check_range(problems, f"augmentation {name}", getattr(spec, name), bounds)
    if not isinstance(spec.mirror_average, bool):
        problems.append(
            "test-time flips (mirror averaging) must be on or off. "
            f"Received: {spec.mirror_average!r}"
        )
    elif spec.mirror_average and spec.flip not in MIRRORING_FLIPS:
        problems.append(
            "test-time flips (averaging each prediction with the mirror image's) need "
            "horizontal flips in training: a model that never saw mirrored images "
            f"misreads them. Received: flip={spec.flip!r}"
        )
    return problems


MAX_NAME_CHARS = 60  # a run's name, wherever it is typed or made up


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs, saved as the run's `config.json`."""

    dataset: str = "mnist"
    model: ModelSpec = field(default_factory=lambda: PRESETS[DEFAULT_PRESET])
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    fit: FitSpec = field(default_factory=FitSpec)
    validation: float = 0.1  # < 1: fraction of the training images; >= 1: a count
    train_subset: int = 0  # 0 = every training image; else the first N after shuffling
    seed: int = 42
    name: str = ""  # optional label shown in run lists
    group: str = ""  # the seed group a run belongs to ("" for none): insight.compare.seed_groups
    augment: AugmentSpec = field(default_factory=AugmentSpec)  # off unless chosen

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the run store adds the schema version around it)."""
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any], version: int = SCHEMA_VERSION) -> TrainConfig:
        """Rebuild a config saved by `to_dict` under record schema `version`.

        Version 1 configs were flat (optimizer, learning_rate, lr_schedule,
        momentum, batch_size, epochs, early_stopping, patience and
        restore_best_weights beside dataset) and carried their own
        `schema_version`; runs recorded before schedules trained at a constant rate.

        Raises:
            UserError: the record has unknown or missing fields.
        """
        data = dict(data)
        data.pop("schema_version", None)  # version 1 repeated it here
        if version == 1:
            data = _flat_to_pieces(data)
        try:
            model = dict(data.pop("model"))
            spec = ModelSpec(
                kind=model["kind"],
                conv_blocks=tuple(ConvBlock(**b) for b in model.get("conv_blocks", ())),
                dense_layers=tuple(DenseLayer(**d) for d in model.get("dense_layers", ())),
                vgg16=Vgg16Spec(**model["vgg16"]) if model.get("vgg16") else None,
            )
            optimizer = OptimizerSpec(**data.pop("optimizer", {}))
            fit = FitSpec(**data.pop("fit", {}))
            augment = AugmentSpec(**data.pop("augment", {}))
            return TrainConfig(model=spec, optimizer=optimizer, fit=fit, augment=augment, **data)
        except (KeyError, TypeError) as error:
            raise UserError(f"config record is malformed: {error}") from error


def _flat_to_pieces(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 (flat) config record in the version-2 layout."""
    optimizer = {"schedule": data.pop("lr_schedule", "constant")}
    if "optimizer" in data:
        optimizer["name"] = data.pop("optimizer")
    for key in ("learning_rate", "momentum"):
        if key in data:
            optimizer[key] = data.pop(key)
    fit = {key: data.pop(key) for key in FIT_FIELDS if key in data}
    return {**data, "optimizer": optimizer, "fit": fit}


FIT_FIELDS = ("batch_size", "epochs", "early_stopping", "patience", "restore_best_weights")


def _cnn(blocks: list[tuple[int, int]], dense: list[tuple[int, float]], **kw: Any) -> ModelSpec:
    return ModelSpec(
        kind="cnn",
        conv_blocks=tuple(ConvBlock(filters=f, kernel_size=k, **kw) for f, k in blocks),
        dense_layers=tuple(DenseLayer(units=u, dropout=d) for u, d in dense),
    )


# The classic tutorial networks, the studio's default and the starter model's
# net. The default is the Keras MNIST convnet with dropout 0.25 instead of 0.5,
# which underfits in a 10-epoch run. Full Fashion-MNIST, 10 epochs, measured on
# 2 CPUs: dropout 0.25 with cosine decay 92.3% / 92.1% (seeds 42 / 1); dropout
# 0.5 91.7% (cosine) / 91.9% (constant); dropout 0.25 at a constant rate
# overfits and early stopping ends it at 91.4%. Batch norm scored 92.6% but
# halved CPU training speed on small batches, so it is the starter's preset,
# not the default. Pooling follows every block.
STARTER_PRESET = (
    "Starter model's net: 3x3 conv 32 -> 3x3 conv 64, batch norm -> dense 128 + dropout 0.5"
)
DEFAULT_PRESET = "Studio default: 3x3 conv 32 -> 3x3 conv 64 -> dense 128 + dropout 0.25"
# The fast recipe's network on CPUs with bfloat16 instructions (`recipes.fast_bf16`):
# the default's shape, 1.5x wider, with a wider, more strongly dropped dense layer. On
# full Fashion-MNIST with the recipe (mixed precision, flips, label smoothing) the
# default network stalled near 93.1% test accuracy by epoch 24-30; this one passed
# 93.0% by epoch 15 of a 30-epoch schedule, at about twice the time per epoch
# (benchmarks/README.md). In float32 on a CPU without them it ran 3.5x slower per
# image than the default network, so `recipes.fast_fp32` trains a thinner one.
FAST_PRESET = "Fast CPU net: 3x3 conv 48 -> 3x3 conv 96 -> dense 256 + dropout 0.4"
# The fast recipe's network on other CPUs (`recipes.fast_fp32`): the default's second
# convolution and the fast net's dense layer after a 16-filter first convolution. A
# profile (benchmarks/profile_training_epoch.py) put a third of the default's training
# step in max-pooling and the first convolution, whose one input channel runs at a
# tenth of the CPU's peak; 16 filters halve both and the second convolution's inputs.
# Full Fashion-MNIST, the recipe, through the worker (AMD EPYC, 2 seeds): 16 epochs in
# 257 s against 323 s for the default network, 92.72% test accuracy against 92.84%.
FAST_FP32_PRESET = "Fast float32 net: 3x3 conv 16 -> 3x3 conv 64 -> dense 256 + dropout 0.4"
PRESETS: dict[str, ModelSpec] = {
    "Softmax regression": ModelSpec(kind="softmax"),
    DEFAULT_PRESET: _cnn([(32, 3), (64, 3)], [(128, 0.25)]),
    "Classic TF tutorial: 5x5 conv 16 -> 5x5 conv 36 -> dense 128": _cnn(
        [(16, 5), (36, 5)], [(128, 0.0)]
    ),
    "TF Deep MNIST: 5x5 conv 32 -> 5x5 conv 64 -> dense 1024 + dropout 0.5": _cnn(
        [(32, 5), (64, 5)], [(1024, 0.5)]
    ),
    "Keras MNIST convnet: 3x3 conv 32 -> 3x3 conv 64 -> dense 128 + dropout 0.5": _cnn(
        [(32, 3), (64, 3)], [(128, 0.5)]
    ),
    "Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128": _cnn(
        [(32, 3), (32, 3), (64, 3)], [(128, 0.5)]
    ),
    STARTER_PRESET: _cnn([(32, 3), (64, 3)], [(128, 0.5)], batch_norm=True),
    FAST_PRESET: _cnn([(48, 3), (96, 3)], [(256, 0.4)]),
    FAST_FP32_PRESET: _cnn([(16, 3), (64, 3)], [(256, 0.4)]),
}


def _check_range(problems: list[str], name: str, value: Any, bounds: tuple) -> None:
    low, high = bounds
    number_ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not number_ok or not math.isfinite(value) or not low <= value <= high:
        problems.append(f"{name} must be between {low:g} and {high:g}. Received: {name}={value!r}")


def _check_int(problems: list[str], name: str, value: Any, bounds: tuple) -> None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{name} must be a whole number. Received: {name}={value!r}")
        return
    _check_range(problems, name, value, bounds)


def _check_choice(problems: list[str], name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        problems.append(f"{name} must be one of {', '.join(choices)}. Received: {name}={value!r}")


def with_model(config: TrainConfig, spec: ModelSpec) -> TrainConfig:
    """`config` training `spec` instead, less the settings `spec` cannot take: VGG16
    trains in float32, so mixed precision is off for it (`validate` refuses it)."""
    fit = replace(config.fit, mixed_precision=False) if spec.kind == "vgg16" else config.fit
    return replace(config, model=spec, fit=fit)


def validate_model(spec: ModelSpec, input_shape: tuple[int, int, int]) -> list[str]:
    """Check a model spec against an input shape (h, w, c); return the problems."""
    problems: list[str] = []
    _check_choice(problems, "model kind", spec.kind, MODEL_KINDS)
    if spec.kind == "vgg16":
        return problems + validate_vgg16(spec.vgg16)
    if spec.kind != "cnn":
        return problems
    _check_int(problems, "number of conv blocks", len(spec.conv_blocks), CONV_BLOCKS_RANGE)
    _check_int(problems, "number of dense layers", len(spec.dense_layers), DENSE_LAYERS_RANGE)
    height, width = input_shape[0], input_shape[1]
    for i, block in enumerate(spec.conv_blocks, start=1):
        where = f"conv block {i}"
        _check_int(problems, f"{where} filters", block.filters, FILTERS_RANGE)
        _check_int(problems, f"{where} kernel size", block.kernel_size, KERNEL_RANGE)
        _check_choice(problems, f"{where} padding", block.padding, PADDINGS)
        _check_choice(problems, f"{where} activation", block.activation, ACTIVATIONS)
        if problems:
            continue  # sizes below are meaningless once a block is invalid
        k = block.kernel_size
        if k > min(height, width):
            problems.append(
                f"{where} kernel size must be at most the {height}x{width} feature map it "
                f"slides over (allowed 1 to {min(height, width)}). Received: kernel size={k}"
            )
            break
        if block.padding == "valid":
            height, width = height - k + 1, width - k + 1
        if block.pool:
            height, width = height // 2, width // 2
        if height < 1 or width < 1:
            problems.append(
                f"{where} shrinks the feature map below 1x1: use 'same' padding, a smaller "
                "kernel, fewer pooling steps or fewer blocks"
            )
            break
    for j, dense in enumerate(spec.dense_layers, start=1):
        _check_int(problems, f"dense layer {j} units", dense.units, DENSE_UNITS_RANGE)
        _check_range(problems, f"dense layer {j} dropout", dense.dropout, DROPOUT_RANGE)
    return problems


def validate_vgg16(vgg: Vgg16Spec | None) -> list[str]:
    """Check the VGG16 settings; return the problems (the input image may be any size)."""
    if vgg is None:
        return ["VGG16 settings are missing. Received: vgg16=None"]
    problems: list[str] = []
    _check_int(problems, "VGG16 input size", vgg.input_size, VGG_INPUT_SIZE_RANGE)
    _check_choice(problems, "VGG16 head", vgg.head, VGG_HEADS)
    _check_int(problems, "VGG16 head dense units", vgg.dense_units, DENSE_UNITS_RANGE)
    _check_range(problems, "VGG16 head dropout", vgg.dropout, DROPOUT_RANGE)
    _check_choice(problems, "VGG16 weights", vgg.weights, VGG_WEIGHTS)
    if vgg.weights == "file" and not str(vgg.weights_file).strip():
        problems.append(
            "VGG16 weights file must name a local weights file (.h5) when weights=file. "
            "Received: weights file=''"
        )
    if vgg.fine_tune:
        _check_int(problems, "fine-tuning epochs", vgg.fine_tune_epochs, VGG_FINE_TUNE_EPOCHS_RANGE)
        _check_range(
            problems,
            "fine-tuning learning rate",
            vgg.fine_tune_learning_rate,
            LEARNING_RATE_RANGE,
        )
    return problems


def validate(config: TrainConfig, input_shape: tuple[int, int, int], n_train: int) -> None:
    """Check every field before TensorFlow sees the config.

    Args:
        config: the settings to check.
        input_shape: the dataset's image shape (h, w, c).
        n_train: how many labelled training images the dataset has (before the split).

    Raises:
        ConfigError: with one message per bad field, naming it and its allowed range.
    """
    problems = validate_model(config.model, input_shape)
    optimizer, fit = config.optimizer, config.fit
    _check_choice(problems, "optimizer", optimizer.name, OPTIMIZERS)
    _check_range(problems, "learning rate", optimizer.learning_rate, LEARNING_RATE_RANGE)
    _check_choice(problems, "learning-rate schedule", optimizer.schedule, LR_SCHEDULES)
    _check_range(problems, "momentum", optimizer.momentum, MOMENTUM_RANGE)
    _check_range(problems, "gradient clipping (clipnorm)", optimizer.clipnorm, CLIPNORM_RANGE)
    _check_int(problems, "batch size", fit.batch_size, BATCH_SIZE_RANGE)
    _check_int(problems, "epochs", fit.epochs, EPOCHS_RANGE)
    _check_int(problems, "patience", fit.patience, PATIENCE_RANGE)
    _check_range(problems, "label smoothing", fit.label_smoothing, LABEL_SMOOTHING_RANGE)
    if not isinstance(fit.mixed_precision, bool):
        problems.append(f"mixed precision must be on or off. Received: {fit.mixed_precision!r}")
    elif fit.mixed_precision and config.model.kind == "vgg16":
        problems.append(
            "mixed precision is for the softmax baseline and CNNs: VGG16 trains in float32"
        )
    _check_int(problems, "seed", config.seed, SEED_RANGE)
    _check_int(problems, "training subset", config.train_subset, (0, n_train))
    problems += split_problems(config.validation, config.train_subset or n_train)
    problems += augment_problems(config.augment)
    if problems:
        raise ConfigError(problems)


def split_problems(validation: float, n_images: int) -> list[str]:
    """What is wrong with a validation size for `n_images` training images, if anything.

    Args:
        validation: a fraction in [0.01, 0.5], or a whole count of at most half the images.
        n_images: the images being split (the training subset, or the whole set).
    """
    problems: list[str] = []
    if isinstance(validation, float) and not validation.is_integer():
        _check_range(problems, "validation fraction", validation, (0.01, 0.5))
    else:
        _check_int(problems, "validation count", validation, (1, max(1, n_images // 2)))
    if not problems and n_images - validation_size(validation, n_images) < 1:
        problems.append("the training split is empty: lower the validation size")
    return problems


def validation_count(config: TrainConfig, n_train: int) -> int:
    """How many of the (possibly subset) training images go to validation."""
    return validation_size(config.validation, config.train_subset or n_train)


def validation_size(validation: float, n_images: int) -> int:
    """How many of `n_images` a validation fraction (< 1) or count (>= 1) holds out."""
    if isinstance(validation, float) and not validation.is_integer():
        return max(1, round(n_images * validation))
    return int(validation)
