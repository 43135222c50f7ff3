"""The training configuration: typed frozen dataclasses, validation, presets.

One `TrainConfig` travels from the Train page to the worker and is saved with
every run (`config.json`), so a run can be rebuilt from its folder. Nothing
here imports TensorFlow: the config is validated before TensorFlow sees it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cnn_core.errors import UserError

SCHEMA_VERSION = 1

MODEL_KINDS = ("softmax", "cnn")
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
BATCH_SIZE_RANGE = (1, 4096)
EPOCHS_RANGE = (1, 500)
PATIENCE_RANGE = (1, 100)
SEED_RANGE = (0, 2**31 - 1)


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
class ModelSpec:
    """What to build: the softmax baseline or a CNN from blocks."""

    kind: str = "cnn"  # one of MODEL_KINDS
    conv_blocks: tuple[ConvBlock, ...] = ()
    dense_layers: tuple[DenseLayer, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs, saved as the run's `config.json`."""

    dataset: str = "mnist"
    model: ModelSpec = field(default_factory=lambda: PRESETS[DEFAULT_PRESET])
    validation: float = 0.1  # < 1: fraction of the training images; >= 1: a count
    train_subset: int = 0  # 0 = every training image; else the first N after shuffling
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"  # one of LR_SCHEDULES (cosine: see the presets' note)
    momentum: float = 0.9  # used by SGD only
    batch_size: int = 64
    epochs: int = 10
    early_stopping: bool = True
    patience: int = 3
    restore_best_weights: bool = True
    seed: int = 42
    name: str = ""  # optional label shown in run lists

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the schema version."""
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config saved by `to_dict`.

        Raises:
            UserError: the record has another schema version or unknown fields.
        """
        data = dict(data)
        version = data.pop("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise UserError(f"config schema version {version} is not supported")
        # Runs recorded before schedules existed trained at a constant rate.
        data.setdefault("lr_schedule", "constant")
        try:
            model = dict(data.pop("model"))
            spec = ModelSpec(
                kind=model["kind"],
                conv_blocks=tuple(ConvBlock(**b) for b in model.get("conv_blocks", ())),
                dense_layers=tuple(DenseLayer(**d) for d in model.get("dense_layers", ())),
            )
            return TrainConfig(model=spec, **data)
        except (KeyError, TypeError) as error:
            raise UserError(f"config record is malformed: {error}") from error


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


def validate_model(spec: ModelSpec, input_shape: tuple[int, int, int]) -> list[str]:
    """Check a model spec against an input shape (h, w, c); return the problems."""
    problems: list[str] = []
    _check_choice(problems, "model kind", spec.kind, MODEL_KINDS)
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
    _check_choice(problems, "optimizer", config.optimizer, OPTIMIZERS)
    _check_range(problems, "learning rate", config.learning_rate, LEARNING_RATE_RANGE)
    _check_choice(problems, "learning-rate schedule", config.lr_schedule, LR_SCHEDULES)
    _check_range(problems, "momentum", config.momentum, MOMENTUM_RANGE)
    _check_int(problems, "batch size", config.batch_size, BATCH_SIZE_RANGE)
    _check_int(problems, "epochs", config.epochs, EPOCHS_RANGE)
    _check_int(problems, "patience", config.patience, PATIENCE_RANGE)
    _check_int(problems, "seed", config.seed, SEED_RANGE)
    _check_int(problems, "training subset", config.train_subset, (0, n_train))
    used = config.train_subset or n_train
    val = config.validation
    if isinstance(val, float) and not val.is_integer():
        _check_range(problems, "validation fraction", val, (0.01, 0.5))
    else:
        _check_int(problems, "validation count", val, (1, max(1, used // 2)))
    if not problems and used - validation_count(config, n_train) < 1:
        problems.append("the training split is empty: lower the validation size")
    if problems:
        raise ConfigError(problems)


def validation_count(config: TrainConfig, n_train: int) -> int:
    """How many of the (possibly subset) training images go to validation."""
    used = config.train_subset or n_train
    val = config.validation
    if isinstance(val, float) and not val.is_integer():
        return max(1, round(used * val))
    return int(val)


def with_model(config: TrainConfig, spec: ModelSpec) -> TrainConfig:
    """A copy of `config` with another model spec (configs are frozen)."""
    return replace(config, model=spec)
