"""Models: the pure layer plan matches the real Keras model, for every preset."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.models.cnn import build_model
from cnn_core.models.plan import describe_model, estimate_batch_memory
from cnn_core.schema.config import PRESETS, ConvBlock, DenseLayer, ModelSpec

SHAPES = {"mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("dataset", list(SHAPES))
def test_plan_matches_keras_model(preset: str, dataset: str) -> None:
    spec, shape = PRESETS[preset], SHAPES[dataset]
    model = build_model(spec, shape, 10)
    rows = describe_model(spec, shape, 10)
    assert model.count_params() == sum(r.params for r in rows)
    assert tuple(model.output_shape) == (None, 10)
    keras_layers = {layer.name: layer for layer in model.layers}
    for row in rows:
        layer = keras_layers[row.name]
        assert tuple(layer.output.shape[1:]) == row.output_shape, row.name
        assert layer.count_params() == row.params, row.name


def test_classic_tutorial_parameter_counts() -> None:
    # Independent arithmetic for "5x5 conv 32 -> 5x5 conv 64 -> dense 1024" on MNIST:
    conv1 = 5 * 5 * 1 * 32 + 32
    conv2 = 5 * 5 * 32 * 64 + 64
    dense = 7 * 7 * 64 * 1024 + 1024
    out = 1024 * 10 + 10
    spec = PRESETS["TF Deep MNIST: 5x5 conv 32 -> 5x5 conv 64 -> dense 1024 + dropout 0.5"]
    assert (
        sum(r.params for r in describe_model(spec, (28, 28, 1), 10)) == conv1 + conv2 + dense + out
    )


def test_softmax_regression_is_one_dense_layer() -> None:
    rows = describe_model(ModelSpec(kind="softmax"), (28, 28, 1), 10)
    assert [r.kind for r in rows][-2:] == ["Flatten", "Dense (softmax)"]
    assert sum(r.params for r in rows) == 784 * 10 + 10


def test_batch_norm_and_valid_padding_shapes() -> None:
    spec = ModelSpec(
        kind="cnn",
        conv_blocks=(ConvBlock(8, 3, padding="valid", batch_norm=True, pool=False),),
        dense_layers=(DenseLayer(16, dropout=0.2),),
    )
    model = build_model(spec, (28, 28, 1), 3)
    rows = {r.name: r for r in describe_model(spec, (28, 28, 1), 3)}
    assert rows["conv1"].output_shape == (26, 26, 8)
    assert rows["bn1"].params == model.get_layer("bn1").count_params() == 32
    assert rows["bn1"].trainable == 16
    assert "dropout1" in rows


def test_model_rescales_raw_pixels_and_outputs_probabilities() -> None:
    model = build_model(PRESETS["Softmax regression"], (28, 28, 1), 10, seed=1)
    x = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28, 1)).astype(np.float32)
    probs = np.asarray(model(x, training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    rescaled = np.asarray(model.get_layer("rescale")(x))
    assert rescaled.max() <= 1.0 and rescaled.max() > 0.9


def test_memory_estimate_grows_with_batch_size() -> None:
    rows = describe_model(
        PRESETS["Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128"], (32, 32, 3), 10
    )
    small, large = (estimate_batch_memory(rows, b, "adam") for b in (32, 64))
    per_image = 2 * sum(int(np.prod(r.output_shape)) for r in rows) * 4
    assert large - small == 32 * per_image
