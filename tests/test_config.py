"""Config validation: every absurd value is refused with the field and range named."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from cnn_core.base.errors import UserError
from cnn_core.schema.config import (
    PRESETS,
    ConfigError,
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    OptimizerSpec,
    TrainConfig,
    split_problems,
    validate,
    validation_count,
)

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
    ("piece", "field", "value", "words"),
    [
        ("fit", "batch_size", 0, "batch size must be between 1 and 4096"),
        ("optimizer", "learning_rate", math.nan, "learning rate must be between"),
        ("optimizer", "learning_rate", 5.0, "learning rate must be between"),
        ("fit", "epochs", 0, "epochs must be between 1 and 500"),
        ("fit", "patience", 0, "patience must be between 1 and 100"),
        ("optimizer", "name", "adagrad", "optimizer must be one of adam, sgd, rmsprop"),
        ("optimizer", "schedule", "step", "learning-rate schedule must be one of constant"),
        ("optimizer", "momentum", 1.5, "momentum must be between 0 and 0.999"),
        ("optimizer", "clipnorm", -1.0, "gradient clipping (clipnorm) must be between 0 and 100"),
        ("optimizer", "clipnorm", math.inf, "Received: gradient clipping (clipnorm)=inf"),
        (None, "validation", 0.9, "validation fraction must be between 0.01 and 0.5"),
        (None, "validation", 40000, "validation count must be between 1 and 30000"),
        (None, "train_subset", 70000, "training subset must be between 0 and 60000"),
        (None, "seed", -1, "seed must be between 0"),
    ],
)
def test_bad_training_values_name_the_field_and_range(
    piece: str | None, field: str, value, words: str
) -> None:
    config = TrainConfig()
    if piece is None:
        config = replace(config, **{field: value})
    else:
        config = replace(config, **{piece: replace(getattr(config, piece), **{field: value})})
    problems = problems_of(config)
    assert any(words in p for p in problems), problems


def test_split_problems_serve_the_data_page_too() -> None:
    assert split_problems(0.1, 5000) == []
    assert split_problems(2500, 5000) == []
    (problem,) = split_problems(2501, 5000)
    assert "validation count must be between 1 and 2500" in problem
    (problem,) = split_problems(1, 1)
    assert "training split is empty" in problem


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
        optimizer=OptimizerSpec("sgd", 0.05, "plateau", 0.8),
        fit=FitSpec(batch_size=16, epochs=3, early_stopping=False),
        seed=7,
        name="x",
    )
    record = config.to_dict()
    assert "schema_version" not in record  # the run store stamps config.json once
    assert TrainConfig.from_dict(record) == config


def test_a_flat_version_1_record_is_read_into_the_typed_pieces() -> None:
    record = {  # config.json's "config" field as CNN Studio wrote it before version 2
        "schema_version": 1,
        "dataset": "fashion_mnist",
        "model": {"kind": "softmax", "conv_blocks": [], "dense_layers": []},
        "validation": 500,
        "train_subset": 0,
        "optimizer": "sgd",
        "learning_rate": 0.01,
        "momentum": 0.5,
        "batch_size": 32,
        "epochs": 7,
        "early_stopping": False,
        "patience": 2,
        "restore_best_weights": True,
        "seed": 3,
        "name": "old",
    }
    config = TrainConfig.from_dict(record, version=1)
    # runs recorded before learning-rate schedules trained at a constant rate
    assert config.optimizer == OptimizerSpec("sgd", 0.01, "constant", 0.5)
    assert config.fit == FitSpec(32, 7, False, 2, True)
    assert (config.dataset, config.validation, config.seed, config.name) == (
        "fashion_mnist",
        500,
        3,
        "old",
    )
    assert config.model == PRESETS["Softmax regression"]
    assert TrainConfig().optimizer.schedule == "cosine"  # new runs decay by default


def test_a_config_saved_before_gradient_clipping_loads_with_it_off() -> None:
    record = TrainConfig(optimizer=OptimizerSpec("sgd", 0.05, clipnorm=2.5)).to_dict()
    assert TrainConfig.from_dict(record).optimizer.clipnorm == 2.5
    del record["optimizer"]["clipnorm"]  # config.json as written before the field
    assert TrainConfig.from_dict(record).optimizer.clipnorm == OptimizerSpec.clipnorm == 0.0


def test_a_malformed_config_record_is_a_user_error() -> None:
    record = TrainConfig().to_dict() | {"optimiser": "adam"}
    with pytest.raises(UserError, match="malformed"):
        TrainConfig.from_dict(record)
