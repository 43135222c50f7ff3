"""Augmentation: the spec in the config, its Keras layers in the model, the preview."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cnn_core.data.augment import augmentation_layers, preview
from cnn_core.models.cnn import build_model
from cnn_core.models.plan import describe_model
from cnn_core.schema.config import PRESETS, AugmentSpec, ConfigError, TrainConfig, validate

ALL_ON = AugmentSpec(flip="horizontal", rotation=0.1, zoom=0.2, translation=0.1, contrast=0.3)
SMALL_RGB = PRESETS["Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128"]


def test_the_spec_round_trips_and_old_configs_load_with_it_off() -> None:
    config = TrainConfig(augment=ALL_ON)
    assert TrainConfig.from_dict(config.to_dict()) == config
    old = config.to_dict()
    del old["augment"]
    assert TrainConfig.from_dict(old).augment == AugmentSpec()
    mirrored = TrainConfig(augment=replace(ALL_ON, mirror_average=True))
    assert TrainConfig.from_dict(mirrored.to_dict()) == mirrored
    older = mirrored.to_dict()
    del older["augment"]["mirror_average"]  # saved before test-time flips existed
    assert TrainConfig.from_dict(older).augment == ALL_ON
    assert not AugmentSpec().active and ALL_ON.active


def test_bad_settings_name_the_field_and_range() -> None:
    config = TrainConfig(augment=AugmentSpec(flip="sideways", zoom=2.0))
    with pytest.raises(ConfigError) as error:
        validate(config, (28, 28, 1), 1000)
    text = str(error.value)
    assert "augmentation flip must be one of" in text and "sideways" in text
    assert "augmentation zoom must be between 0 and 0.9. Received: augmentation zoom=2.0" in text


@pytest.mark.parametrize("flip", ["none", "vertical"])
def test_test_time_flips_are_refused_without_horizontal_flips_in_training(flip: str) -> None:
    config = TrainConfig(augment=AugmentSpec(flip=flip, mirror_average=True))
    with pytest.raises(ConfigError, match="need horizontal flips in training"):
        validate(config, (28, 28, 1), 1000)
    hostile = TrainConfig(augment=AugmentSpec(flip="horizontal", mirror_average="yes"))
    with pytest.raises(ConfigError, match="test-time flips .* must be on or off"):
        validate(hostile, (28, 28, 1), 1000)
    for flip_ok in ("horizontal", "horizontal_and_vertical"):
        validate(TrainConfig(augment=AugmentSpec(flip_ok, mirror_average=True)), (28, 28, 1), 1000)
    # a prediction setting, not a change to training images
    assert not AugmentSpec(mirror_average=True).active


def test_the_plan_matches_the_keras_model_layer_for_layer() -> None:
    rows = describe_model(SMALL_RGB, (32, 32, 3), 3, ALL_ON)
    model = build_model(SMALL_RGB, (32, 32, 3), 3, augment=ALL_ON)
    assert [r.name for r in rows] == [layer.name for layer in model.layers]
    assert [r.name for r in rows][1:6] == [
        "aug_flip",
        "aug_rotation",
        "aug_zoom",
        "aug_translation",
        "aug_contrast",
    ]
    assert sum(r.params for r in rows) == model.count_params()


def test_augmentation_is_active_in_training_only() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 24, 24, 3)).astype(np.float32)
    x = images
    for layer in augmentation_layers(ALL_ON, seed=1):
        assert np.array_equal(np.asarray(layer(x, training=False)), x)
    trained = x
    for layer in augmentation_layers(ALL_ON, seed=1):
        trained = layer(trained, training=True)
    assert not np.allclose(np.asarray(trained), images)


def test_the_preview_is_repeatable_and_follows_the_settings() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = 255  # left half white: a flip or shift shows
    first = preview(image, AugmentSpec(flip="horizontal"), n=8)
    assert first.shape == (8, 32, 32, 3) and first.dtype == np.uint8
    assert np.array_equal(first, preview(image, AugmentSpec(flip="horizontal"), n=8))
    flipped = [np.array_equal(v, image[:, ::-1]) for v in first]
    assert any(flipped) and not all(flipped)
    assert not np.array_equal(first, preview(image, AugmentSpec(translation=0.3), n=8))
    with pytest.raises(ValueError, match="rotation"):
        preview(image, AugmentSpec(rotation=3.0))
