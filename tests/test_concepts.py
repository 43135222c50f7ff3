"""cnn_core.insight.concepts against independent references: Keras layers and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal, special

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.insight import concepts
from cnn_core.models.cnn import build_model
from cnn_core.schema.config import ModelSpec

# (n, k, stride): odd and even sizes, strides that do and do not divide n,
# kernels equal to n, so "same" needs both even and odd total padding.
SIZE_CASES = [(28, 3, 1), (28, 3, 2), (9, 3, 2), (8, 3, 2), (7, 2, 1), (7, 2, 3), (5, 5, 1)]
SIZE_CASES += [(10, 4, 3), (1, 1, 1), (6, 1, 4)]


def _keras_conv(image: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Runs one bias-free Keras Conv2D filter over an (H, W, C) image; returns (H', W')."""
    keras = import_keras()
    layer = keras.layers.Conv2D(
        1, kernel.shape[:2], strides=stride, padding=padding, use_bias=False
    )
    layer.build((1, *image.shape))
    layer.kernel.assign(kernel.reshape(*kernel.shape[:2], image.shape[2], 1))
    return np.asarray(layer(image[None]))[0, :, :, 0]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(("n", "k", "stride"), SIZE_CASES)
def test_output_size_matches_keras_conv2d(n: int, k: int, stride: int, padding: str) -> None:
    keras = import_keras()
    layer = keras.layers.Conv2D(1, k, strides=stride, padding=padding)
    keras_size = layer(np.zeros((1, n, n, 1), np.float32)).shape[1]
    assert concepts.output_size(n, k, stride, padding) == keras_size


@pytest.mark.parametrize(("n", "k", "stride"), SIZE_CASES)
def test_full_padding_matches_scipy_correlate(n: int, k: int, stride: int) -> None:
    rng = np.random.default_rng(n * 100 + k * 10 + stride)
    image, kernel = rng.normal(size=(n, n)), rng.normal(size=(k, k))
    full = signal.correlate2d(image, kernel, mode="full")[::stride, ::stride]
    out = concepts.conv2d(image, kernel, stride=stride, padding="full")
    assert out.shape == full.shape == (concepts.output_size(n, k, stride, "full"),) * 2
    np.testing.assert_allclose(out, full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(("n", "k", "stride"), [(9, 3, 1), (9, 3, 2), (8, 3, 2), (8, 2, 1)])
def test_conv2d_matches_keras(n: int, k: int, stride: int, padding: str) -> None:
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 1, size=(n, n, 1)).astype(np.float32)
    kernel = rng.normal(size=(k, k)).astype(np.float32)
    expected = _keras_conv(image, kernel, stride, padding)
    got = concepts.conv2d(image[:, :, 0], kernel, stride=stride, padding=padding)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_conv2d_sums_over_channels_like_one_keras_filter() -> None:
    rng = np.random.default_rng(3)
    image = rng.uniform(0, 1, size=(7, 6, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 3)).astype(np.float32)
    expected = _keras_conv(image, kernel, 1, "same")
    np.testing.assert_allclose(concepts.conv2d(image, kernel, padding="same"), expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(("size", "stride"), [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_pool2d_matches_keras_pooling(size: int, stride: int, mode: str) -> None:
    keras = import_keras()
    layer_type = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    x = np.random.default_rng(size * 10 + stride).normal(size=(7, 8, 2)).astype(np.float32)
    expected = np.asarray(layer_type(size, strides=stride)(x[None]))[0]
    got = concepts.pool2d(x, size=size, stride=stride, mode=mode)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    single = concepts.pool2d(x[:, :, 1], size, stride, mode)
    np.testing.assert_allclose(single, expected[:, :, 1], rtol=1e-6, atol=1e-6)


def test_kernels_behave_as_named() -> None:
    step = np.zeros((6, 6), np.float32)
    step[:, 3:] = 1.0  # a vertical edge between columns 2 and 3
    vertical = concepts.conv2d(step, concepts.KERNELS["vertical edges"])
    horizontal = concepts.conv2d(step, concepts.KERNELS["horizontal edges"])
    assert np.all(horizontal == 0)
    assert np.all(vertical[:, [1, 2]] != 0) and np.all(vertical[:, [0, 3]] == 0)
    identity = concepts.conv2d(step, concepts.KERNELS["identity"], padding="same")
    np.testing.assert_array_equal(identity, step)
    assert concepts.KERNELS["box blur"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        concepts.KERNELS["sharpen"][0, 0] = 9.0  # the shared table is read-only


def test_relu_clips_negatives_only() -> None:
    np.testing.assert_array_equal(concepts.relu(np.array([-2.0, 0.0, 3.5])), [0.0, 0.0, 3.5])


def test_softmax_sums_to_one_and_matches_scipy() -> None:
    logits = np.random.default_rng(0).normal(scale=5, size=(4, 10))
    probs = concepts.softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    np.testing.assert_allclose(probs, special.softmax(logits, axis=-1), rtol=1e-12)


def test_softmax_is_stable_for_large_logits() -> None:
    big = concepts.softmax(np.array([1000.0, 1001.0, 1002.0]))
    tiny = concepts.softmax(np.array([-1000.0, -999.0, -998.0]))
    assert np.all(np.isfinite(big)) and np.all(np.isfinite(tiny))
    np.testing.assert_allclose(big, concepts.softmax(np.array([0.0, 1.0, 2.0])))
    np.testing.assert_allclose(tiny, big)


def test_dropout_keeps_the_expected_mean() -> None:
    x = np.random.default_rng(1).uniform(0.5, 1.5, size=200_000).astype(np.float32)
    out = concepts.dropout(x, rate=0.3, seed=5)
    dropped = out == 0
    assert dropped.mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(out[~dropped], x[~dropped] / 0.7, rtol=1e-6)
    assert out.mean() == pytest.approx(x.mean(), rel=0.01)
    np.testing.assert_array_equal(out, concepts.dropout(x, rate=0.3, seed=5))
    np.testing.assert_array_equal(concepts.dropout(x, rate=0.0), x)


def test_to_grayscale_weights_channels() -> None:
    pixel = np.array([[[255.0, 0.0, 0.0]]])
    assert concepts.to_grayscale(pixel)[0, 0] == pytest.approx(0.299 * 255, rel=1e-5)
    assert concepts.to_grayscale(np.ones((4, 5, 1))).shape == (4, 5)


def test_rescaled_grayscale_is_what_the_model_rescaling_layer_gives() -> None:
    image = np.random.default_rng(3).integers(0, 256, (6, 5, 1)).astype(np.uint8)
    model = build_model(ModelSpec(kind="softmax"), (6, 5, 1), 3)
    rescaled = np.asarray(model.get_layer("rescale")(image[None].astype(np.float32)))[0, :, :, 0]
    grey = concepts.rescaled_grayscale(image)
    assert grey.dtype == np.float32 and grey.shape == (6, 5)
    np.testing.assert_array_equal(grey, rescaled)
    white = concepts.rescaled_grayscale(np.full((2, 2, 3), 255, np.uint8))
    np.testing.assert_allclose(white, 1.0, rtol=1e-6)  # [0, 255] -> [0, 1], colour too


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
@pytest.mark.parametrize(("n", "k", "stride"), [(28, 3, 1), (9, 3, 2), (7, 2, 3), (5, 5, 1)])
def test_keras_output_size_agrees_with_a_real_layer(
    n: int, k: int, stride: int, padding: str
) -> None:
    keras = import_keras()
    image = np.zeros((1, n, n, 1), np.float32)
    if padding == "full":  # Keras' way of writing full padding
        image = keras.layers.ZeroPadding2D(k - 1)(image)
    layer = keras.layers.Conv2D(
        1, k, strides=stride, padding="valid" if padding == "full" else padding
    )
    assert concepts.keras_output_size(n, k, stride, padding) == layer(image).shape[1]


def test_keras_output_size_is_none_where_keras_refuses() -> None:
    assert concepts.output_size(3, 5, 1, "valid") == 0
    assert concepts.keras_output_size(3, 5, 1, "valid") is None
    assert concepts.keras_output_size(3, 5, 1, "full") == concepts.output_size(3, 5, 1, "full")


def test_strongest_response_is_the_largest_absolute_output() -> None:
    image = np.random.default_rng(4).uniform(0, 1, (9, 8)).astype(np.float32)
    for name, kernel in concepts.KERNELS.items():
        out = signal.correlate2d(image, kernel, mode="valid")  # independent of conv2d
        row, col = concepts.strongest_response(image, name)
        assert abs(out[row, col]) == pytest.approx(np.abs(out).max(), rel=1e-5), name
    step = np.zeros((6, 6), np.float32)
    step[:, 3:] = 1.0  # dark left, light right: a vertical edge between columns 2 and 3
    assert concepts.strongest_response(step, "vertical edges")[1] in (1, 2)
    with pytest.raises(UserError, match="kernel_name"):
        concepts.strongest_response(step, "blur")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: concepts.output_size(5, 3, 1, "circular"), "padding"),
        (lambda: concepts.output_size(5, 0, 1), "k"),
        (lambda: concepts.conv2d(np.ones((5, 5)), np.ones((3, 3)), stride=0), "stride"),
        (lambda: concepts.conv2d(np.ones((2, 2)), np.ones((3, 3))), "kernel"),
        (lambda: concepts.conv2d(np.ones((5, 5, 3)), np.ones((3, 3, 2))), "channels"),
        (lambda: concepts.pool2d(np.ones((4, 4)), size=5), "size"),
        (lambda: concepts.pool2d(np.ones((4, 4)), mode="median"), "mode"),
        (lambda: concepts.dropout(np.ones(3), rate=1.0), "rate"),
        (lambda: concepts.dropout(np.ones(3), rate=-0.1), "rate"),
        (lambda: concepts.softmax(np.array([1.0, np.inf])), "logits"),
        (lambda: concepts.keras_output_size(5, 3, 0), "stride"),
        (lambda: concepts.keras_output_size(5, 3, 1, "circular"), "padding"),
    ],
)
def test_bad_arguments_raise_user_error_naming_the_field(call, field: str) -> None:
    with pytest.raises(UserError, match=field):
        call()
