"""cnn_core.insight.inspection (and its figures) on tiny Keras models like models.cnn's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.charts.model_views import gradcam_overlay_figure, layer_flow_figure
from cnn_core.insight import concepts
from cnn_core.insight.inspection import (
    Inspector,
    class_count,
    conv_layer_names,
    filter_input_channels,
    filter_weights,
    format_shape,
    layer_flow,
    softmax_templates,
)

SOBEL_AND_LAPLACIAN = np.stack(
    [concepts.KERNELS["sobel vertical"], concepts.KERNELS["laplacian"]], axis=-1
)  # (3, 3, 2): two hand-set filters on one input channel
BIAS = np.array([0.1, -0.2], np.float32)


def _cnn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...],
    num_classes: int = 3,
    padding: str = "valid",
    names: tuple[str, ...] | None = None,
):
    """Input -> rescale -> (conv [-> pool])... -> flatten -> dense1 -> predictions."""
    keras = import_keras()
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    names = names or tuple(f"conv{i + 1}" for i in range(len(filters)))
    for i, (count, name) in enumerate(zip(filters, names, strict=True)):
        x = keras.layers.Conv2D(count, 3, padding=padding, activation="relu", name=name)(x)
        if i < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="dense1")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def _softmax_model(input_shape: tuple[int, int, int], num_classes: int):
    """The baseline: Input -> rescale -> flatten -> predictions."""
    keras = import_keras()
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def _left_half_images(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """16x16 images whose class is whether the LEFT half is bright; the right half is noise."""
    labels = rng.integers(0, 2, count)
    images = rng.uniform(0, 255, (count, 16, 16, 1)).astype(np.float32)
    bright = rng.uniform(150, 255, (count, 16, 8, 1))
    dark = rng.uniform(0, 100, (count, 16, 8, 1))
    images[:, :, :8] = np.where(labels[:, None, None, None] == 1, bright, dark)
    return images, labels


@pytest.fixture(scope="module")
def half_model():
    """A tiny CNN trained to read the left half: (model, Inspector)."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    images, labels = _left_half_images(np.random.default_rng(0), 200)
    model = _cnn((16, 16, 1), (8, 8), num_classes=2, padding="same")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=5, batch_size=32, verbose=0)
    return model, Inspector(model)


@pytest.mark.parametrize(("padding", "mode"), [("valid", "valid"), ("same", "same")])
def test_feature_maps_equal_numpy_and_scipy_convolution(padding: str, mode: str) -> None:
    model = _cnn((9, 8, 1), (2,), padding=padding)
    conv = model.get_layer("conv1")
    conv.kernel.assign(SOBEL_AND_LAPLACIAN[:, :, None, :])
    conv.bias.assign(BIAS)
    image = np.random.default_rng(0).uniform(0, 255, (9, 8, 1)).astype(np.float32)
    maps = Inspector(model).feature_maps("conv1", image)
    scaled = image[:, :, 0] / 255
    for f in range(2):
        kernel = SOBEL_AND_LAPLACIAN[:, :, f]
        ours = concepts.relu(concepts.conv2d(scaled, kernel, padding=padding) + BIAS[f])
        scipy_ref = np.maximum(signal.correlate2d(scaled, kernel, mode=mode) + BIAS[f], 0)
        np.testing.assert_allclose(maps[:, :, f], ours, atol=1e-5)
        np.testing.assert_allclose(maps[:, :, f], scipy_ref, atol=1e-5)
    assert maps.max() > 0  # the comparison is not between two all-zero arrays


def test_gradcam_heats_the_half_that_decides(half_model) -> None:
    model, inspector = half_model
    images, labels = _left_half_images(np.random.default_rng(1), 60)
    predicted = np.asarray(model(images)).argmax(axis=1)
    assert (predicted == labels).mean() > 0.9  # the model did learn the rule
    left, right = [], []
    for image in images[labels == 1][:10]:
        heat, explained = inspector.gradcam(image, class_index=1)
        assert heat.shape == (16, 16) and explained == 1
        assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
        left.append(heat[:, :8].mean())
        right.append(heat[:, 8:].mean())
    assert np.mean(left) > 1.2 * np.mean(right)
    assert np.mean(np.array(left) > np.array(right)) >= 0.8


def test_gradcam_defaults_to_the_predicted_class_and_last_conv(half_model) -> None:
    model, inspector = half_model
    image = _left_half_images(np.random.default_rng(2), 1)[0][0]
    heat, explained = inspector.gradcam(image)
    assert explained == int(inspector.image_probabilities(image).argmax())
    np.testing.assert_allclose(heat, inspector.gradcam(image, explained, "conv2")[0])
    assert inspector.gradcam(image, layer_name="conv1")[0].shape == (16, 16)


def test_probabilities_and_feature_maps_match_the_model(half_model) -> None:
    model, inspector = half_model
    image = _left_half_images(np.random.default_rng(3), 1)[0][0]
    probs = inspector.image_probabilities(image)
    np.testing.assert_allclose(probs, np.asarray(model(image[None]))[0], rtol=1e-5, atol=1e-6)
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    keras = import_keras()
    pool1 = keras.Model(model.input, model.get_layer("pool1").output)
    np.testing.assert_allclose(
        inspector.feature_maps("pool1", image), np.asarray(pool1(image[None]))[0], atol=1e-5
    )
    other = np.flip(image, axis=1)  # a new image must not be served from the cache
    assert not np.allclose(inspector.feature_maps("pool1", other), pool1(image[None])[0])


def test_filter_weights_slice_the_kernel_by_input_channel() -> None:
    model = _cnn((8, 8, 3), (4, 5))
    kernel = np.asarray(model.get_layer("conv2").kernel)  # (3, 3, 4, 5)
    weights = filter_weights(model, "conv2", 2)
    assert weights.shape == (5, 3, 3)
    for f in range(5):
        np.testing.assert_array_equal(weights[f], kernel[:, :, 2, f])
    assert filter_weights(model, "conv1", 2).shape == (4, 3, 3)


def test_a_conv_layer_reads_its_input_channels_and_the_model_scores_its_classes() -> None:
    model = _cnn((8, 8, 3), (4, 5), num_classes=7)
    assert filter_input_channels(model, "conv1") == 3  # the RGB image
    assert filter_input_channels(model, "conv2") == 4  # conv1's four filters
    assert class_count(model) == 7
    with pytest.raises(ValueError, match="Flatten"):
        filter_input_channels(model, "flatten")


@pytest.mark.parametrize(
    ("layer", "channel", "message"),
    [("conv1", 3, "input_channel"), ("conv1", -1, "input_channel"), ("flatten", 0, "Flatten")],
)
def test_filter_weights_rejects_bad_requests(layer: str, channel: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        filter_weights(_cnn((8, 8, 3), (4,)), layer, channel)


def test_softmax_templates_are_the_pixel_weights_per_class() -> None:
    model = _softmax_model((4, 5, 2), 3)
    kernel = np.asarray(model.get_layer("predictions").kernel)  # (40, 3)
    templates = softmax_templates(model)
    assert templates.shape == (3, 4, 5)
    for k, i, j in [(0, 0, 0), (2, 3, 4), (1, 2, 1)]:
        pixel = (i * 5 + j) * 2  # Flatten order: row, column, channel
        assert templates[k, i, j] == pytest.approx(kernel[pixel : pixel + 2, k].mean())


def test_softmax_templates_explain_the_grey_model_scores() -> None:
    model = _softmax_model((6, 6, 1), 4)
    image = np.random.default_rng(4).uniform(0, 255, (6, 6, 1)).astype(np.float32)
    bias = np.asarray(model.get_layer("predictions").bias)
    logits = (softmax_templates(model) * image[None, :, :, 0] / 255).sum(axis=(1, 2)) + bias
    np.testing.assert_allclose(concepts.softmax(logits), model(image[None])[0], atol=1e-5)


def test_softmax_model_has_no_conv_and_cnn_has_no_templates() -> None:
    baseline = _softmax_model((6, 6, 1), 4)
    assert conv_layer_names(baseline) == []
    with pytest.raises(ValueError, match="convolution"):
        Inspector(baseline).gradcam(np.zeros((6, 6, 1), np.float32))
    with pytest.raises(UserError, match="softmax baseline"):
        softmax_templates(_cnn((8, 8, 1), (2,)))


def test_conv_layers_are_found_by_type_not_name() -> None:
    model = _cnn((12, 12, 3), (4, 4), names=("block1_conv1", "block2_conv1"))
    assert conv_layer_names(model) == ["block1_conv1", "block2_conv1"]
    assert Inspector(model).gradcam(np.zeros((12, 12, 3), np.float32))[0].shape == (12, 12)


def test_layer_flow_gives_each_output_shape() -> None:
    model = _cnn((28, 28, 1), (16, 32), num_classes=10)
    flow = layer_flow(model)
    conv1 = concepts.output_size(28, 3, 1, "valid")
    pooled = concepts.output_size(conv1, 2, 2, "valid")
    conv2 = concepts.output_size(pooled, 3, 1, "valid")
    shapes = {step["name"]: step["shape"] for step in flow}
    assert flow[0]["shape"] == (28, 28, 1) and flow[-1]["shape"] == (10,)
    assert shapes["conv1"] == (conv1, conv1, 16) and shapes["pool1"] == (pooled, pooled, 16)
    assert shapes["flatten"] == (conv2 * conv2 * 32,)
    assert [step["kind"] for step in flow[:4]] == [
        "InputLayer",
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
    ]
    assert sum(step["params"] for step in flow) == model.count_params()
    assert flow[2]["shape_text"] == f"{conv1}x{conv1}x16"
    assert format_shape((28, 28, 16)) == "28x28x16" and format_shape((10,)) == "10"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i: i.gradcam(np.zeros((16, 16, 1), np.float32), class_index=2), "class_index"),
        (lambda i: i.gradcam(np.zeros((16, 16, 1), np.float32), layer_name="dense1"), "h x w"),
        (lambda i: i.feature_maps("flatten", np.zeros((16, 16, 1), np.float32)), "feature maps"),
        (lambda i: i.feature_maps("conv9", np.zeros((16, 16, 1), np.float32)), "no layer"),
        (lambda i: i.gradcam(np.zeros((16, 16, 1), np.float32), class_index=True), "class_index"),
        (lambda i: i.feature_maps("conv1", np.zeros((16, 16), np.float32)), r"16, 16, 1\)"),
        (lambda i: i.image_probabilities(np.zeros((28, 28, 1), np.float32)), r"16, 16, 1\)"),
        (lambda i: i.probabilities(np.zeros((16, 16, 1), np.float32)), r"\(n, 16, 16, 1\)"),
    ],
)
def test_inspector_rejects_bad_requests_from_our_code(half_model, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(half_model[1])


def test_layer_flow_and_gradcam_feed_their_figures(half_model) -> None:
    image = np.full((16, 16, 1), 128, np.float32)
    heat = half_model[1].gradcam(image)[0]
    overlay = gradcam_overlay_figure(image, heat, "Grad-CAM")
    assert [trace.type for trace in overlay.data] == ["image", "heatmap"]
    flow = layer_flow_figure(layer_flow(half_model[0]), per_row=4)
    assert len(flow.layout.shapes) == len(half_model[0].layers)
