"""TensorFlow Lite export: the converted model gives the Keras model's probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn_core.data.registry import load_dataset
from cnn_core.models.cnn import build_model
from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec
from cnn_core.sharing.export import PARITY_TOLERANCE, tflite_probabilities, to_tflite


@pytest.fixture(scope="module")
def model_and_images(synthetic_data_dir: Path) -> tuple[object, np.ndarray]:
    spec = ModelSpec(
        kind="cnn",
        conv_blocks=(ConvBlock(4, 3, batch_norm=True),),
        dense_layers=(DenseLayer(16, dropout=0.3),),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_DATA_DIR", str(synthetic_data_dir))
        dataset = load_dataset("mnist")
    return build_model(spec, (28, 28, 1), 10, seed=3), dataset.x_test[:32]


def test_tflite_matches_keras_on_test_images(model_and_images: tuple) -> None:
    model, images = model_and_images
    export = to_tflite(model, images)
    assert export.content[4:8] == b"TFL3"  # the flatbuffer's file identifier
    assert export.n_images == 32
    assert export.ok and export.max_difference <= PARITY_TOLERANCE
    assert export.agree == 1.0
    lite = tflite_probabilities(export.content, images[:5].astype(np.float32))
    assert lite.shape == (5, 10)
    np.testing.assert_allclose(lite.sum(axis=1), 1.0, atol=1e-5)
    keras_probs = np.asarray(model(images[:5].astype(np.float32)))
    np.testing.assert_allclose(lite, keras_probs, atol=PARITY_TOLERANCE)


def test_the_check_notices_a_different_model(model_and_images: tuple) -> None:
    """Parity is measured, not assumed: another model's file disagrees."""
    model, images = model_and_images
    other = build_model(ModelSpec(kind="softmax"), (28, 28, 1), 10, seed=9)
    lite = tflite_probabilities(to_tflite(other, images[:4]).content, images.astype(np.float32))
    keras_probs = np.asarray(model(images.astype(np.float32)))
    assert np.abs(lite - keras_probs).max() > PARITY_TOLERANCE


def test_images_of_the_wrong_shape_are_a_contract_error(model_and_images: tuple) -> None:
    model, _ = model_and_images
    with pytest.raises(ValueError, match="do not fit"):
        to_tflite(model, np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="batch"):
        to_tflite(model, np.zeros((0, 28, 28, 1), np.uint8))
