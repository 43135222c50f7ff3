"""Conv2D as patches x kernel matrix: the same function and gradients as the layer,
sharing its weights, used only where it computes exactly that."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.base.tf_runtime import import_keras
from cnn_core.models.patch_conv import MAX_PATCH_AREA, can_patch, patched


def conv_in_model(side: int, **settings: object):
    """A Conv2D called once (so it has an input shape) on random weights."""
    keras = import_keras()
    keras.utils.set_random_seed(3)
    inputs = keras.Input((side, side, 5))
    conv = keras.layers.Conv2D(7, settings.pop("kernel_size", 3), **settings)
    keras.Model(inputs, conv(inputs))
    bias = np.random.default_rng(1).normal(size=7).astype(np.float32)
    conv.bias.assign(bias) if conv.use_bias else None
    return conv


@pytest.mark.parametrize(
    "settings",
    [
        {"padding": "same", "activation": "relu"},
        {"padding": "valid"},
        {"padding": "same", "kernel_size": 2, "use_bias": False},
        {"padding": "same", "kernel_size": (1, 3), "activation": "tanh"},
    ],
)
def test_patches_compute_the_layer_and_its_gradients(settings: dict) -> None:
    import tensorflow as tf

    conv = conv_in_model(4, **settings)
    patch = patched(conv)
    assert patch is not conv and conv.name in patch.name
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 4, 4, 5)).astype(np.float32))
    weights = conv.trainable_variables
    grads = []
    for layer in (conv, patch):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.range(tf.size(y), dtype=tf.float32)[: y.shape[-1]])
        grads.append([tape.gradient(loss, v) for v in (x, *weights)])
        if layer is conv:
            expected = np.asarray(y)
        else:
            np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-5)
    for want, got in zip(*grads, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)
    # The wrapper's weights are the layer's own: training one trains the other.
    assert [id(v) for v in patch.trainable_variables] == [id(v) for v in weights]


def test_only_what_the_patches_compute_exactly_is_patched() -> None:
    keras = import_keras()
    small = int(MAX_PATCH_AREA**0.5)
    assert can_patch(conv_in_model(small, padding="same"))
    assert not can_patch(conv_in_model(small + 1, padding="same"))  # a large map
    assert not can_patch(conv_in_model(small, padding="same", strides=2))
    assert not can_patch(conv_in_model(small, padding="same", dilation_rate=2))
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    assert patched(dense) is dense


def test_the_wrapper_round_trips_through_its_config() -> None:
    """TensorBoard writes the training model's config; the wrapper must describe itself."""
    conv = conv_in_model(4, padding="same")
    patch = patched(conv)
    copy = type(patch).from_config(patch.get_config())
    assert copy.name == patch.name and copy.conv.get_config() == conv.get_config()
