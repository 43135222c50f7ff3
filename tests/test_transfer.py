"""Pretrained VGG16: settings, layer plan, preprocessing inside the model, phases, weights.

Offline: VGG16 is built with weights=None (14.7M parameters) or from a weights
file saved from such a model, at 32 px on tiny inputs, so each test takes seconds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.models.cnn import build_model
from cnn_core.models.plan import describe_model, phase_parameters
from cnn_core.models.vgg16 import (
    PHASE_FINE_TUNE,
    PHASE_HEAD,
    uses_feature_cache,
    vgg16_label,
    vgg16_spec,
)
from cnn_core.models.vgg16_build import IMAGENET_MEAN_BGR, build_vgg16, set_phase
from cnn_core.models.vgg16_estimate import estimate_seconds
from cnn_core.models.vgg16_weights import WEIGHTS_FILE, keras_models_dir
from cnn_core.schema.config import (
    AugmentSpec,
    ConfigError,
    FitSpec,
    TrainConfig,
    Vgg16Spec,
    validate,
)

GREY, RGB = (28, 28, 1), (32, 32, 3)


@pytest.fixture(scope="module")
def grey_model():
    """A fine-tuning VGG16 on 28x28 greyscale input, random weights (built once)."""
    return build_vgg16(vgg16_spec("fine_tune", 32, weights="none"), GREY, 10, seed=3)


def n_trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def sub_output(model, layer: str, images: np.ndarray) -> np.ndarray:
    keras = import_keras()
    return np.asarray(keras.Model(model.input, model.get_layer(layer).output)(images))


def test_plan_matches_the_keras_model_layer_for_layer(grey_model) -> None:
    spec = vgg16_spec("fine_tune", 32, weights="none")
    rows = describe_model(spec, GREY, 10)
    assert grey_model.count_params() == sum(r.params for r in rows)
    for row in rows:
        layer = grey_model.get_layer(row.name)
        assert tuple(layer.output.shape[1:]) == row.output_shape, row.name
        assert layer.count_params() == row.params, row.name
    # VGG16's base is 14,714,688 parameters (Keras' documented count, include_top=False).
    base = sum(r.params for r in rows if r.name.startswith("block"))
    assert base == 14_714_688
    assert tuple(grey_model.output_shape) == (None, 10)


def test_flatten_head_at_64_px_on_rgb_input() -> None:
    spec = vgg16_spec("feature_extraction", 64, weights="none", head="flatten", dense_units=512)
    model = build_model(spec, RGB, 4)
    rows = {r.name: r for r in describe_model(spec, RGB, 4)}
    assert rows["block5_pool"].output_shape == (2, 2, 512)
    assert rows["head_flatten"].output_shape == (2048,)
    assert model.get_layer("head_dense").count_params() == rows["head_dense"].params
    assert model.count_params() == sum(r.params for r in rows.values())


def test_each_phase_trains_the_layers_it_says(grey_model) -> None:
    spec = vgg16_spec("fine_tune", 32, weights="none")
    head, fine = phase_parameters(spec, GREY, 10)
    assert (head.phase, fine.phase) == (PHASE_HEAD, PHASE_FINE_TUNE)
    assert head.total == fine.total == grey_model.count_params()
    set_phase(grey_model, PHASE_HEAD)
    assert n_trainable(grey_model) == head.trainable == 512 * 256 + 256 + 256 * 10 + 10
    set_phase(grey_model, PHASE_FINE_TUNE)
    assert n_trainable(grey_model) == fine.trainable
    trainable = {layer.name for layer in grey_model.layers if layer.trainable and layer.weights}
    assert {"block5_conv1", "block5_conv3", "head_dense", "predictions"} <= trainable
    assert not trainable & {"preprocess", "block4_conv3", "block1_conv1"}
    set_phase(grey_model, PHASE_HEAD)
    assert not grey_model.get_layer("block5_conv1").trainable
    # A feature-extraction spec plans one phase only.
    assert len(phase_parameters(vgg16_spec("feature_extraction"), GREY, 10)) == 1


def test_caffe_preprocessing_happens_inside_the_model() -> None:
    keras = import_keras()
    model = build_vgg16(vgg16_spec("feature_extraction", 32, weights="none"), RGB, 3)
    image = np.zeros((1, *RGB), np.float32)
    image[..., 0], image[..., 1], image[..., 2] = 10.0, 20.0, 30.0  # R, G, B
    out = sub_output(model, "preprocess", image)[0, 5, 7]
    # Caffe mode: RGB -> BGR, ImageNet mean subtracted, no division by 255.
    expected = np.array([30.0, 20.0, 10.0]) - np.array(IMAGENET_MEAN_BGR)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    reference = keras.applications.vgg16.preprocess_input(image.copy())[0, 5, 7]
    np.testing.assert_allclose(out, reference, atol=1e-4)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)


def test_greyscale_is_repeated_to_three_channels_and_resized(grey_model) -> None:
    image = np.full((1, *GREY), 200.0, np.float32)
    out = sub_output(grey_model, "preprocess", image)
    assert out.shape == (1, 32, 32, 3)
    np.testing.assert_allclose(out[0, 0, 0], 200.0 - np.array(IMAGENET_MEAN_BGR), atol=1e-3)


def test_the_model_saves_as_one_file_and_loads_in_safe_mode(grey_model, tmp_path: Path) -> None:
    keras = import_keras()
    path = tmp_path / "vgg.keras"
    grey_model.save(path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    x = np.random.default_rng(0).integers(0, 256, (2, *GREY)).astype(np.float32)
    np.testing.assert_allclose(loaded(x), grey_model(x), atol=1e-5)
    assert loaded.get_layer("block5_conv3") is not None


def test_a_weights_file_saved_from_vgg16_is_loaded(tmp_path: Path) -> None:
    keras = import_keras()
    keras.utils.set_random_seed(11)
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "my_vgg16.weights.h5"
    source.save_weights(path)
    spec = vgg16_spec("feature_extraction", 32, weights="file", weights_file=str(path))
    model = build_vgg16(spec, RGB, 10, seed=5)
    for name in ("block1_conv1", "block5_conv3"):
        np.testing.assert_array_equal(
            model.get_layer(name).kernel.numpy(), source.get_layer(name).kernel.numpy()
        )


def test_missing_or_mismatched_weights_files_get_clear_messages(tmp_path: Path) -> None:
    missing = vgg16_spec("feature_extraction", weights="file", weights_file=str(tmp_path / "x.h5"))
    with pytest.raises(UserError, match="x.h5 does not exist"):
        build_vgg16(missing, RGB, 10)
    keras = import_keras()
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    wrong = tmp_path / "small.weights.h5"
    small.save_weights(wrong)
    spec = vgg16_spec("feature_extraction", weights="file", weights_file=str(wrong))
    with pytest.raises(UserError, match="small.weights.h5 does not fit VGG16"):
        build_vgg16(spec, RGB, 10)
    # ImageNet weights not downloaded (KERAS_HOME is a test folder): which file, where.
    with pytest.raises(UserError) as error:
        build_vgg16(vgg16_spec("feature_extraction"), RGB, 10)
    assert WEIGHTS_FILE in str(error.value) and str(keras_models_dir()) in str(error.value)
    assert "58.9 MB" in str(error.value)


def config_with(**vgg: object) -> TrainConfig:
    return TrainConfig(dataset="cifar10", model=vgg16_spec("fine_tune", **vgg))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"input_size": 16}, "VGG16 input size must be between 32 and 224. Received"),
        ({"input_size": 500}, "VGG16 input size must be between 32 and 224"),
        ({"head": "mean"}, "VGG16 head must be one of gap, flatten"),
        ({"dropout": 0.99}, "VGG16 head dropout must be between 0 and 0.95"),
        ({"weights": "file"}, "VGG16 weights file must name a local weights file"),
        ({"fine_tune_learning_rate": 0.0}, "fine-tuning learning rate must be between"),
        ({"fine_tune_epochs": 0}, "fine-tuning epochs must be between 1 and 500"),
    ],
)
def test_validation_names_the_field_and_range(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(config_with(**settings), RGB, 200)


def test_valid_settings_pass_and_round_trip_through_the_record() -> None:
    config = config_with(input_size=64, head="flatten", dense_units=512)
    validate(config, GREY, 200)
    again = TrainConfig.from_dict(config.to_dict())
    assert again == config and isinstance(again.model.vgg16, Vgg16Spec)


def test_random_weights_are_labelled_not_pretrained() -> None:
    pretrained = vgg16_spec("fine_tune", 64).vgg16
    assert vgg16_label(pretrained) == "VGG16 fine-tuned, 64 px"
    random = vgg16_spec("feature_extraction", weights="none").vgg16
    assert vgg16_label(random) == "VGG16 (not pretrained) feature extraction, 32 px"


def test_the_cache_is_off_with_augmentation_and_estimates_reflect_it() -> None:
    config = TrainConfig(
        dataset="cifar10", model=vgg16_spec("fine_tune", 32), fit=FitSpec(batch_size=64)
    )
    assert uses_feature_cache(config)
    cached = estimate_seconds(config, RGB, 10, 50_000)
    assert cached["features"] > 0 and cached[PHASE_HEAD] < cached["features"] / 20

    augmented = replace(config, augment=AugmentSpec(flip="horizontal"))
    assert not uses_feature_cache(augmented)
    full = estimate_seconds(augmented, RGB, 10, 50_000)
    assert full["features"] == 0
    assert full[PHASE_HEAD] > 20 * cached[PHASE_HEAD]
    assert full[PHASE_FINE_TUNE] > 2 * cached[PHASE_FINE_TUNE]
    # 64 px: four times the pixels, about four times the work.
    bigger = replace(config, model=vgg16_spec("fine_tune", 64))
    ratio = estimate_seconds(bigger, RGB, 10, 50_000)["features"] / cached["features"]
    assert 3.5 < ratio < 4.5


def test_run_lists_name_the_vgg16_model_and_its_weights(tmp_path: Path) -> None:
    from cnn_core.insight.labels import model_label, run_label
    from cnn_core.store.runs import RunSummary

    config = TrainConfig(dataset="cifar10", model=vgg16_spec("feature_extraction", 48, "none"))
    run = RunSummary(tmp_path / "r", config=config)
    assert model_label(run) == "VGG16 (not pretrained) feature extraction, 48 px"
    assert "VGG16 (not pretrained)" in run_label(run)


def test_the_inspector_sees_vgg16_blocks_and_explains_block5(grey_model) -> None:
    from cnn_core.insight.inspection import Inspector, filter_weights

    inspector = Inspector(grey_model)
    assert len(inspector.conv_layers) == 13
    assert inspector.conv_layers[0] == "block1_conv1"
    assert inspector.conv_layers[-1] == "block5_conv3"
    assert "resize" not in inspector.spatial_layers
    image = np.random.default_rng(1).integers(0, 256, GREY).astype(np.float32)
    assert inspector.feature_maps("block3_conv1", image).shape == (8, 8, 256)
    heat, index = inspector.gradcam(image)
    assert heat.shape == GREY[:2] and 0 <= index < 10
    assert np.isclose(inspector.image_probabilities(image).sum(), 1.0, atol=1e-5)
    assert filter_weights(grey_model, "block1_conv1", 2).shape == (64, 3, 3)


def test_augmentation_goes_inside_the_vgg16_model_and_only_acts_in_training() -> None:
    spec = vgg16_spec("feature_extraction", 32, weights="none")
    model = build_model(spec, RGB, 3, seed=0, augment=AugmentSpec(flip="horizontal"))
    assert "RandomFlip" in [type(layer).__name__ for layer in model.layers]
    images = np.random.default_rng(0).integers(0, 256, (4, *RGB)).astype(np.float32)
    at_test = np.asarray(model(images, training=False))
    np.testing.assert_allclose(np.asarray(model(images, training=False)), at_test)
    plain = build_model(spec, RGB, 3, seed=0)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(plain(images, training=False)), at_test, atol=1e-5)


def test_the_feature_estimate_counts_every_image_whose_features_are_computed() -> None:
    # CIFAR-10 at 32 px: 45,000 + 5,000 training and validation images, 10,000 test images.
    config = TrainConfig(dataset="cifar10", model=vgg16_spec("fine_tune", 32))
    without_test = estimate_seconds(config, RGB, 10, 50_000)
    with_test = estimate_seconds(config, RGB, 10, 50_000, n_test=10_000)
    per_image = without_test["features"] / 50_000
    assert with_test["features"] == pytest.approx(60_000 * per_image)
    # The test images are read once, not in every epoch.
    assert with_test[PHASE_HEAD] == without_test[PHASE_HEAD]
    assert with_test[PHASE_FINE_TUNE] == without_test[PHASE_FINE_TUNE]


def test_weights_from_a_local_file_are_named_in_the_label_and_their_source(
    tmp_path: Path,
) -> None:
    import hashlib

    from cnn_core.models.vgg16_weights import weights_source

    path = tmp_path / "my_vgg16.h5"
    path.write_bytes(bytes(range(256)) * 5000)  # 1.28 MB
    spec = vgg16_spec("feature_extraction", 32, weights="file", weights_file=str(path)).vgg16
    assert vgg16_label(spec) == "VGG16 feature extraction, 32 px (weights: my_vgg16.h5)"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert weights_source(spec) == f"my_vgg16.h5 · 1.3 MB · sha256 {digest}"
    assert weights_source(vgg16_spec("fine_tune").vgg16) == "ImageNet (Keras download)"
    random = vgg16_spec("fine_tune", weights="none").vgg16
    assert weights_source(random) == "none (random, not pretrained)"
