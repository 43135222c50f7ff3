"""cnn_core.insight.novelty: scores, the Mahalanobis fit, threshold calibration, AUROC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn_core.insight import novelty
from tests.novelty_support import fashion_like, noise_image, train_tiny_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> object:
    from cnn_core.models.cnn import load_trained_model

    path = train_tiny_model(tmp_path_factory.mktemp("novelty") / "model.keras")
    return load_trained_model(path)


@pytest.fixture(scope="module")
def detector(tiny_model: object) -> novelty.Detector:
    x_train, y_train, x_test, _ = fashion_like()
    return novelty.fit_detector(tiny_model, x_train, y_train, x_test)


def test_reader_logits_reproduce_the_models_probabilities(tiny_model: object) -> None:
    _, _, x_test, _ = fashion_like()
    images = x_test[:16].astype(np.float32)
    reader = novelty.FeatureReader(tiny_model)
    logits = reader.logits(reader.features(images))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    expected = np.asarray(tiny_model(images, training=False))
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_in_distribution_images_score_below_noise_and_constant_images(
    detector: novelty.Detector,
) -> None:
    _, _, x_test, _ = fashion_like()
    inside = detector.scores(x_test.astype(np.float32))
    noise = np.stack([noise_image(seed=s) for s in range(20)])[..., np.newaxis]
    constant = np.full((3, 28, 28, 1), 0.0) + np.array([0, 128, 255]).reshape(3, 1, 1, 1)
    foreign = detector.scores(np.concatenate([noise, constant]).astype(np.float32))
    assert foreign.min() > np.quantile(inside, 0.99)
    assert detector.check.flags(foreign).all()
    assert detector.check.flags(inside).mean() <= novelty.FALSE_ALARM_RATE + 0.01


@pytest.mark.parametrize("kind", ["energy", "max_softmax"])
def test_logit_scores_are_calibrated_on_the_held_out_images(tiny_model: object, kind: str) -> None:
    x_train, y_train, x_test, _ = fashion_like()
    found = novelty.fit_detector(tiny_model, x_train, y_train, x_test, kind=kind)
    assert found.check.kind == kind and found.check.gaussians is None
    flagged = found.check.flags(found.scores(x_test.astype(np.float32)))
    assert 0 < flagged.mean() <= novelty.FALSE_ALARM_RATE + 0.01


def test_threshold_lets_the_chosen_share_of_held_out_scores_through() -> None:
    scores = np.random.default_rng(0).normal(size=1000)
    for rate in (0.01, 0.05, 0.2):
        threshold = novelty.threshold_for(scores, rate)
        assert abs(float(np.mean(scores > threshold)) - rate) <= 0.002
    with pytest.raises(ValueError, match="rate"):
        novelty.threshold_for(scores, 1.5)
    with pytest.raises(ValueError, match="0 scores"):
        novelty.threshold_for(np.array([]))


def test_mahalanobis_distance_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 4)) * [1.0, 2.0, 0.5, 3.0]
    labels = np.arange(200) % 3
    features[labels == 1] += 5.0
    fit = novelty.fit_gaussians(features, labels)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(3)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(features)
    covariance += novelty.SHRINKAGE * np.trace(covariance) / 4 * np.eye(4)
    inverse = np.linalg.inv(covariance)
    points = rng.normal(size=(10, 4)) * 4
    expected = [min((p - m) @ inverse @ (p - m) for m in means) for p in points]
    np.testing.assert_allclose(fit.distance(points), expected, rtol=1e-9)


def test_constant_features_do_not_break_the_fit() -> None:
    features = np.zeros((50, 6))
    features[:, 0] = np.arange(50)  # one live feature, five dead ones (ReLU units never on)
    fit = novelty.fit_gaussians(features, np.arange(50) % 2)
    assert np.isfinite(fit.distance(features)).all()


def test_logit_scores_follow_their_definitions() -> None:
    logits = np.array([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(novelty.energy_score(logits), -np.log(np.exp(logits).sum(axis=1)))
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(novelty.max_softmax_score(logits), 1 - softmax.max(axis=1))
    confident, unsure = novelty.energy_score(logits)
    assert confident < unsure


def test_auroc_is_the_chance_an_outside_score_beats_an_inside_one() -> None:
    rng = np.random.default_rng(2)
    inside, outside = rng.normal(size=60), rng.normal(0.7, size=40).round(1)
    inside = inside.round(1)  # ties count half
    pairs = outside[:, None] - inside[None, :]
    expected = float(np.mean(pairs > 0) + 0.5 * np.mean(pairs == 0))
    assert novelty.auroc(inside, outside) == pytest.approx(expected)
    assert novelty.auroc(np.zeros(3), np.ones(3)) == 1.0
    assert novelty.auroc(np.ones(3), np.ones(3)) == 0.5


def test_reader_refuses_a_model_without_a_softmax_head(tmp_path: Path) -> None:
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="Dense softmax"):
        novelty.FeatureReader(model)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        novelty.score("entropy", np.zeros((1, 2)), np.zeros((1, 2)))
