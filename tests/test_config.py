"""Config validation: every absurd value is refused with the field and range named."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from cnn_core.config import (
    PRESETS,
    ConfigError,
    ConvBlock,
    DenseLayer,
    ModelSpec,
    TrainConfig,
    validate,
    validation_count,
)
from cnn_core.errors import UserError

MNIST = (28, 28, 1)


def cnn(*blocks: ConvBlock, dense: tuple[DenseLayer, ...] = ()) -> ModelSpec:
    return ModelSpec(kind="cnn", conv_blocks=blocks, dense_layers=dense)


def problems_of(config: TrainConfig, shape=MNIST, n_train: int = 60000) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(config, shape, n_train)
    return info.value.problems


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_on_mnist_and_cifar(name: str) -> None:
    config = TrainConfig(model=PRESETS[name])
    validate(config, MNIST, 60000)
    validate(config, (32, 32, 3), 50000)


@pytest.mark.parametrize("filters", [0, 100_000, -3])
def test_absurd_filter_counts_are_refused(filters: int) -> None:
    config = TrainConfig(model=cnn(ConvBlock(filters=filters)))
    (problem,) = problems_of(config)
    assert "conv block 1 filters" in problem and "between 1 and 1024" in problem
    assert str(filters) in problem


def test_kernel_larger_than_the_feature_map_is_refused() -> None:
    config = TrainConfig(
        model=cnn(
            ConvBlock(kernel_size=5, pool=True),
            ConvBlock(kernel_size=5, pool=True),
            ConvBlock(kernel_size=9),
        )
    )
    (problem,) = problems_of(config)
    assert problem.startswith("conv block 3 kernel size") and "7x7" in problem


def test_network_shrinking_below_one_pixel_is_refused() -> None:
    # 28 -> 27 -> 13 -> 12 -> 6 -> 5 -> 2 -> 1 -> 0 after the 4th pooling
    config = TrainConfig(model=cnn(*[ConvBlock(kernel_size=2, padding="valid")] * 4))
    (problem,) = problems_of(config)
    assert problem.startswith("conv block 4 shrinks the feature map below 1x1")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("batch_size", 0, "batch size must be between 1 and 4096"),
        ("learning_rate", math.nan, "learning rate must be between"),
        ("learning_rate", 5.0, "learning rate must be between"),
        ("epochs", 0, "epochs must be between 1 and 500"),
        ("optimizer", "adagrad", "optimizer must be one of adam, sgd, rmsprop"),
        ("lr_schedule", "step", "learning-rate schedule must be one of constant, cosine, plateau"),
        ("validation", 0.9, "validation fraction must be between 0.01 and 0.5"),
        ("validation", 40000, "validation count must be between 1 and 30000"),
        ("train_subset", 70000, "training subset must be between 0 and 60000"),
        ("seed", -1, "seed must be between 0"),
    ],
)
def test_bad_training_values_name_the_field_and_range(field: str, value, words: str) -> None:
    config = replace(TrainConfig(), **{field: value})
    problems = problems_of(config)
    assert any(words in p for p in problems), problems


def test_dense_dropout_out_of_range() -> None:
    config = TrainConfig(model=cnn(ConvBlock(), dense=(DenseLayer(64, dropout=1.0),)))
    assert any("dense layer 1 dropout" in p for p in problems_of(config))


def test_validation_fraction_and_count() -> None:
    assert validation_count(TrainConfig(validation=0.1), 5000) == 500
    assert validation_count(TrainConfig(validation=0.1, train_subset=300), 5000) == 30
    assert validation_count(TrainConfig(validation=250), 5000) == 250


def test_config_round_trips_through_its_dict() -> None:
    config = TrainConfig(
        model=PRESETS["Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128"],
        dataset="cifar10",
        optimizer="sgd",
        seed=7,
        name="x",
    )
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_a_record_from_before_schedules_reads_as_a_constant_rate() -> None:
    record = TrainConfig().to_dict()
    del record["lr_schedule"]
    assert TrainConfig.from_dict(record).lr_schedule == "constant"
    assert TrainConfig().lr_schedule == "cosine"  # new runs decay by default


def test_unknown_schema_version_is_a_user_error() -> None:
    record = TrainConfig().to_dict() | {"schema_version": 99}
    with pytest.raises(UserError, match="schema version 99"):
        TrainConfig.from_dict(record)
