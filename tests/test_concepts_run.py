"""cnn_core.insight.concepts on a run's own parts: its first-layer filters and its logits."""

from __future__ import annotations

import numpy as np

from cnn_core.insight import concepts
from cnn_core.models.cnn import build_model
from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec

SPEC = ModelSpec(
    kind="cnn",
    conv_blocks=(ConvBlock(filters=4, kernel_size=5, padding="valid", pool=False),),
    dense_layers=(DenseLayer(units=6),),
)


def test_first_layer_filters_act_on_a_grey_image_as_the_conv_layer_does() -> None:
    model = build_model(SPEC, (12, 12, 3), 3, seed=0)
    layer, filters = concepts.first_layer_filters(model)
    assert layer == "conv1" and filters.shape == (4, 5, 5)
    grey = np.random.default_rng(0).uniform(0, 1, (12, 12)).astype(np.float32)
    conv = model.get_layer("conv1")
    # The real layer's convolution (no bias, no ReLU) on the grey image repeated on R, G, B.
    pre_relu = conv.convolution_op(np.repeat(grey[None, :, :, None], 3, axis=3), conv.kernel)
    pre_relu = np.asarray(pre_relu)[0]
    for f in range(4):
        np.testing.assert_allclose(
            concepts.conv2d(grey, filters[f]), pre_relu[:, :, f], rtol=1e-4, atol=1e-5
        )


def test_a_model_without_convolutions_has_no_filters() -> None:
    baseline = build_model(ModelSpec(kind="softmax"), (8, 8, 1), 3)
    assert concepts.first_layer_filters(baseline) is None


def test_model_logits_are_the_output_layers_sums_and_give_its_probabilities() -> None:
    model = build_model(SPEC, (12, 12, 1), 3, seed=1)
    image = np.random.default_rng(2).integers(0, 256, (12, 12, 1)).astype(np.float32)
    logits, probs = concepts.model_logits(model, image)
    assert logits.shape == probs.shape == (3,)
    np.testing.assert_allclose(concepts.softmax(logits), probs, rtol=1e-5, atol=1e-7)
    expected = np.asarray(model(image[None], training=False))[0]
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    assert np.ptp(logits) > 0
