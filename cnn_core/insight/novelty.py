"""Does an image look like the training data? Novelty scores and their threshold.

A classifier answers with one of its classes whatever it is shown: a digit shown
to a Fashion-MNIST model comes out as "Sneaker 90.5%". Each score here is
higher for an image less like the training data:

- ``mahalanobis``: the squared Mahalanobis distance of the image's penultimate
  activations (the input of the last Dense layer) from the nearest class mean,
  with one covariance shared by all classes (Lee et al., 2018), fitted on
  training images;
- ``energy``: minus the log-sum-exp of the real logits (Liu et al., 2020);
- ``max_softmax``: one minus the largest class probability (Hendrycks and
  Gimpel, 2017).

The threshold is the ``1 - rate`` quantile of the score on held-out
in-distribution images (the test set), so about ``rate`` of ordinary images are
flagged by mistake. ``benchmarks/bench_novelty.py`` measures how well each score
separates MNIST from Fashion-MNIST; ``DEFAULT_KIND`` is the best of them there.

Images are float raw pixels in [0, 255] (n, h, w, c), as every model takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn_core.base.tf_runtime import import_keras

SCORE_KINDS = ("mahalanobis", "energy", "max_softmax")
DEFAULT_KIND = "mahalanobis"  # best AUROC, MNIST vs Fashion-MNIST (benchmarks/README.md)
FALSE_ALARM_RATE = 0.05  # share of ordinary (test) images flagged by the threshold
BATCH = 256  # images per model call while fitting
SHRINKAGE = 1e-3  # ridge on the covariance, relative to its mean variance


def _check_kind(kind: str) -> None:
    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {SCORE_KINDS}. Received: kind={kind!r}")


class FeatureReader:
    """Penultimate activations and real logits of a softmax classifier.

    Uses the model's last layer, a Dense layer with a softmax activation (every
    model CNN Studio builds ends so): its input are the features, its kernel and
    bias make the logits.

    Args:
        model: a loaded Keras model, NHWC raw-pixel input.

    Raises:
        ValueError: when the last layer is not a Dense softmax layer.
    """

    def __init__(self, model: Any) -> None:
        keras = import_keras()
        import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

        last = model.layers[-1]
        activation = getattr(getattr(last, "activation", None), "__name__", "")
        if not isinstance(last, keras.layers.Dense) or activation != "softmax":
            raise ValueError(
                "the model's last layer must be a Dense softmax layer. "
                f"Received: {type(last).__name__} ({activation or 'no activation'})"
            )
        self.input_shape = tuple(int(d) for d in model.input_shape[1:])
        self._kernel = np.asarray(last.kernel, np.float64)  # (d, k)
        self._bias = np.asarray(last.bias, np.float64)  # (k,)
        features = keras.Model(model.inputs, last.input)
        spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        self._call = tf.function(lambda x: features(x, training=False), input_signature=[spec])

    def features(self, images: np.ndarray) -> np.ndarray:
        """float64 (n, d) penultimate activations of images (n, h, w, c) in [0, 255]."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != self.input_shape:
            raise ValueError(
                f"images must be (n, {', '.join(map(str, self.input_shape))}). "
                f"Received: shape={images.shape}"
            )
        parts = [
            self._call(images[i : i + BATCH]).numpy().reshape(len(images[i : i + BATCH]), -1)
            for i in range(0, len(images), BATCH)
        ]
        return np.concatenate(parts).astype(np.float64)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """float64 (n, k) pre-softmax logits of the features from `features`."""
        return features @ self._kernel + self._bias


def energy_score(logits: np.ndarray) -> np.ndarray:
    """-logsumexp(logits) per row: (n,), higher for a more unusual image."""
    top = logits.max(axis=1, keepdims=True)
    return -(top[:, 0] + np.log(np.exp(logits - top).sum(axis=1)))


def max_softmax_score(logits: np.ndarray) -> np.ndarray:
    """1 - the largest softmax probability per row: (n,), in [0, 1)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return 1.0 - shifted.max(axis=1) / shifted.sum(axis=1)


@dataclass(frozen=True)
class ClassGaussians:
    """Class means and the precision of their shared covariance, in feature space."""

    means: np.ndarray  # float64 (k, d); a class without images has no row
    precision: np.ndarray  # float64 (d, d)

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance to the nearest class mean: (n,) >= 0."""
        # (x - m)' P (x - m) = x'Px - 2 x'Pm + m'Pm, for all n x k pairs at once
        projected = features @ self.precision  # (n, d)
        own = (projected * features).sum(axis=1)[:, np.newaxis]
        means = ((self.means @ self.precision) * self.means).sum(axis=1)[np.newaxis]
        squared = own - 2.0 * projected @ self.means.T + means  # (n, k)
        return np.maximum(squared.min(axis=1), 0.0)


def fit_gaussians(features: np.ndarray, labels: np.ndarray) -> ClassGaussians:
    """Class-conditional means with one shared (within-class) covariance.

    Args:
        features: float (n, d) activations of training images.
        labels: int (n,) their classes.

    Returns:
        The fit; the covariance gets a small ridge (SHRINKAGE) so that dead or
        constant features (zero variance) never make it singular.

    Raises:
        ValueError: for fewer than two images or mismatched lengths.
    """
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels).reshape(-1)
    if features.ndim != 2 or len(features) < 2 or len(labels) != len(features):
        raise ValueError(
            "features must be (n, d) with n >= 2 and one label each. "
            f"Received: features {features.shape}, labels {labels.shape}"
        )
    classes = np.unique(labels)
    means = np.stack([features[labels == c].mean(axis=0) for c in classes])
    centred = features - means[np.searchsorted(classes, labels)]
    covariance = centred.T @ centred / len(features)
    ridge = SHRINKAGE * max(float(np.trace(covariance)) / len(covariance), 1e-12)
    covariance += ridge * np.eye(len(covariance))
    return ClassGaussians(means=means, precision=np.linalg.inv(covariance))


def threshold_for(scores: np.ndarray, rate: float = FALSE_ALARM_RATE) -> float:
    """The score above which about `rate` of these in-distribution images lie.

    Raises:
        ValueError: for no scores, or a rate outside (0, 1).
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    if not 0 < rate < 1 or scores.size == 0:
        raise ValueError(
            f"need scores and a rate in (0, 1). Received: {scores.size} scores, rate={rate}"
        )
    return float(np.quantile(scores, 1.0 - rate))


@dataclass(frozen=True)
class NoveltyCheck:
    """A calibrated score: which images do not look like the training data.

    Attributes:
        kind: one of SCORE_KINDS.
        threshold: scores above it are flagged.
        rate: the share of held-out in-distribution images above the threshold.
        gaussians: the training fit (``mahalanobis`` only).
    """

    kind: str
    threshold: float
    rate: float
    gaussians: ClassGaussians | None = None

    def scores(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """(n,) scores of images given their features and logits (FeatureReader)."""
        return score(self.kind, features, logits, self.gaussians)

    def flags(self, scores: np.ndarray) -> np.ndarray:
        """bool (n,): True for an image that does not look like the training data."""
        return np.asarray(scores) > self.threshold


def score(
    kind: str, features: np.ndarray, logits: np.ndarray, gaussians: ClassGaussians | None = None
) -> np.ndarray:
    """(n,) novelty scores of one kind; `gaussians` is needed for ``mahalanobis``.

    Raises:
        ValueError: for an unknown kind, or ``mahalanobis`` without a fit.
    """
    _check_kind(kind)
    if kind == "energy":
        return energy_score(logits)
    if kind == "max_softmax":
        return max_softmax_score(logits)
    if gaussians is None:
        raise ValueError("the mahalanobis score needs the training fit. Received: gaussians=None")
    return gaussians.distance(features)


def fit_check(
    reader: FeatureReader,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_heldout: np.ndarray,
    kind: str = DEFAULT_KIND,
    rate: float = FALSE_ALARM_RATE,
) -> NoveltyCheck:
    """Fit the score on training images and set its threshold on held-out ones.

    Args:
        reader: the model's features and logits.
        x_fit, y_fit: training images (n, h, w, c) in [0, 255] and their labels.
        x_heldout: in-distribution images the model did not train on (the test set).
        kind: one of SCORE_KINDS.
        rate: the share of held-out images the threshold lets through as flagged.

    Returns:
        The calibrated check.
    """
    _check_kind(kind)
    gaussians = fit_gaussians(reader.features(x_fit), y_fit) if kind == "mahalanobis" else None
    features = reader.features(x_heldout)
    heldout = score(kind, features, reader.logits(features), gaussians)
    return NoveltyCheck(kind, threshold_for(heldout, rate), rate, gaussians)


def sample_indices(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Up to `limit` of range(n), sorted, the same for the same arguments."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """Area under the ROC curve of telling `outside` scores (positive) from `inside`.

    The chance that a random outside image scores above a random inside one
    (ties count half): 1 separates perfectly, 0.5 is guessing.
    """
    inside, outside = np.asarray(inside, np.float64), np.asarray(outside, np.float64)
    if inside.size == 0 or outside.size == 0:
        raise ValueError(f"need scores on both sides. Received: {inside.size} and {outside.size}")
    values, inverse, counts = np.unique(
        np.concatenate([inside, outside]), return_inverse=True, return_counts=True
    )
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based, ties averaged
    n_in, n_out = inside.size, outside.size
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


@dataclass(frozen=True)
class Detector:
    """A model's feature reader with its calibrated check: scores for raw images."""

    reader: FeatureReader
    check: NoveltyCheck

    def scores(self, images: np.ndarray) -> np.ndarray:
        """(n,) scores of images (n, h, w, c) in [0, 255]."""
        features = self.reader.features(images)
        return self.check.scores(features, self.reader.logits(features))


def fit_detector(
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    kind: str = DEFAULT_KIND,
    fit_images: int = 5000,
    heldout_images: int = 2000,
) -> Detector:
    """A Detector for `model`, from a bounded, fixed sample of its dataset.

    Args:
        model: the trained Keras model (a Dense softmax last layer).
        x_train, y_train: the training images (n, h, w, c) uint8 and labels.
        x_test: the test images (held out: they set the threshold).
        kind: one of SCORE_KINDS.
        fit_images, heldout_images: at most this many of each are used.

    Raises:
        ValueError: the model has no Dense softmax last layer, or the images
            do not fit its input.
    """
    reader = FeatureReader(model)
    fit = sample_indices(len(y_train), fit_images)
    heldout = sample_indices(len(x_test), heldout_images)
    check = fit_check(
        reader,
        np.asarray(x_train[fit], np.float32),
        np.asarray(y_train[fit]),
        np.asarray(x_test[heldout], np.float32),
        kind,
    )
    return Detector(reader, check)
