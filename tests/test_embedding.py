"""cnn_core.insight.embedding: the stratified sample, PCA against an eigen-decomposition,
penultimate activations against a manual forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.insight.embedding import (
    compute_embedding,
    pca_2d,
    penultimate_activations,
    stratified_sample,
)
from cnn_core.models.cnn import build_model
from cnn_core.models.vgg16 import vgg16_spec
from cnn_core.models.vgg16_build import build_vgg16
from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec

SHAPE = (8, 8, 1)
CNN = ModelSpec(
    kind="cnn",
    conv_blocks=(ConvBlock(filters=3, kernel_size=3),),
    dense_layers=(DenseLayer(units=5, dropout=0.5),),
)


def random_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *SHAPE)).astype(np.uint8)


def test_stratified_sample_keeps_each_class_share() -> None:
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)
    np.random.default_rng(1).shuffle(labels)
    picked = stratified_sample(labels, 100, seed=3)
    assert len(picked) == 100 and len(set(picked.tolist())) == 100
    assert np.all(np.diff(picked) > 0)
    counts = np.bincount(labels[picked], minlength=3)
    assert np.all(np.abs(counts - np.array([60, 30, 10])) <= 1), counts
    np.testing.assert_array_equal(picked, stratified_sample(labels, 100, seed=3))
    assert not np.array_equal(picked, stratified_sample(labels, 100, seed=4))


def test_stratified_sample_keeps_a_small_class_and_caps_at_all() -> None:
    labels = np.array([0] * 995 + [1] * 5)
    assert 1 in labels[stratified_sample(labels, 200)]
    np.testing.assert_array_equal(stratified_sample(labels, 5000), np.arange(1000))
    with pytest.raises(ValueError, match="limit"):
        stratified_sample(labels, 0)


def test_pca_variances_are_the_covariance_eigenvalues() -> None:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])[:, None]
    features = rng.normal(size=(400, 6)) @ mixing + 7.0
    coords, explained = pca_2d(features)
    eigen = np.sort(np.linalg.eigvalsh(np.cov(features, rowvar=False)))[::-1]
    variances = coords.astype(np.float64).var(axis=0, ddof=1)
    np.testing.assert_allclose(variances, eigen[:2], rtol=1e-4)
    np.testing.assert_allclose(explained, eigen[:2] / eigen.sum(), rtol=1e-4)
    np.testing.assert_allclose(coords.mean(axis=0), 0.0, atol=1e-3)
    assert abs(np.corrcoef(coords[:, 0], coords[:, 1])[0, 1]) < 1e-4
    flipped, _ = pca_2d(features[::-1])  # same data, other order: the same picture
    np.testing.assert_allclose(flipped[::-1], coords, atol=1e-3)


def test_pca_of_data_on_a_line_has_a_blank_second_axis() -> None:
    t = np.linspace(-1, 1, 50)
    coords, explained = pca_2d(np.stack([t, 2 * t, -t], axis=1))
    assert explained[0] == pytest.approx(1.0) and explained[1] == 0.0
    np.testing.assert_array_equal(coords[:, 1], 0.0)
    np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(t) * np.sqrt(6), rtol=1e-5)


def test_softmax_baseline_features_are_the_rescaled_pixels() -> None:
    model = build_model(ModelSpec(kind="softmax"), SHAPE, 4)
    images = random_images(7)
    features = penultimate_activations(model, images, batch_size=3)
    np.testing.assert_allclose(features, images.reshape(7, -1) / 255.0, rtol=1e-6)


def test_cnn_features_feed_the_output_layer() -> None:
    model = build_model(CNN, SHAPE, 4, seed=2)
    images = random_images(10, seed=5)
    features = penultimate_activations(model, images, batch_size=4)
    assert features.shape == (10, 5) and features.dtype == np.float32
    assert (features >= 0).all()  # after ReLU; dropout is off outside training
    kernel, bias = (np.asarray(w) for w in model.layers[-1].get_weights())
    logits = features.astype(np.float64) @ kernel + bias
    manual = np.exp(logits - logits.max(axis=1, keepdims=True))
    manual /= manual.sum(axis=1, keepdims=True)
    expected = np.asarray(model(images.astype(np.float32), training=False))
    np.testing.assert_allclose(manual, expected, rtol=1e-4, atol=1e-6)


def test_a_model_not_ending_in_dense_is_refused() -> None:
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    inputs = keras.Input(SHAPE)
    model = keras.Model(inputs, keras.layers.Flatten()(inputs))
    with pytest.raises(UserError, match="not a Dense layer"):
        penultimate_activations(model, random_images(2))


def test_compute_embedding_maps_a_sample_with_its_labels() -> None:
    model = build_model(CNN, SHAPE, 3, seed=1)
    images = random_images(60, seed=2)
    y_true = np.arange(60) % 3
    y_pred = (np.arange(60) // 7) % 3
    embedding = compute_embedding(model, images, y_true, y_pred, limit=30, seed=0)
    assert embedding.coords.shape == (30, 2) and embedding.features == 5
    np.testing.assert_array_equal(embedding.y_true, y_true[embedding.indices])
    np.testing.assert_array_equal(embedding.y_pred, y_pred[embedding.indices])
    features = penultimate_activations(model, images[embedding.indices])
    np.testing.assert_allclose(embedding.coords, pca_2d(features)[0], atol=1e-5)
    with pytest.raises(ValueError, match="limit"):
        compute_embedding(model, images, y_true, y_pred, limit=5000)
    with pytest.raises(ValueError, match="one entry per test image"):
        compute_embedding(model, images, y_true[:10], y_pred, limit=5)


def test_a_vgg16_run_maps_its_head_features() -> None:
    spec = vgg16_spec("feature_extraction", 32, weights="none")
    model = build_vgg16(spec, (28, 28, 1), 10)  # random weights: offline
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).astype(np.uint8)
    features = penultimate_activations(model, images)
    dense_units = model.get_layer("head_dense").units
    assert features.shape == (3, dense_units)
    kernel, bias = (np.asarray(w) for w in model.layers[-1].get_weights())
    logits = features.astype(np.float64) @ kernel + bias
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    expected = np.asarray(model(images.astype(np.float32), training=False))
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
