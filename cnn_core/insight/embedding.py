"""What the network learned, as a map: penultimate activations projected to 2-D.

TensorBoard's projector for CNN Studio's runs. The penultimate layer is the
input of the model's last ``Dense`` (the softmax output of every model in
``cnn_core.models.cnn`` and ``cnn_core.models.vgg16_build``): the flattened pixels for the
softmax baseline, the last hidden features for a CNN or a VGG16 head. A bounded,
seeded, class-stratified sample of test images is run through the model once and
projected with PCA (numpy SVD; no extra dependency), so images the network finds
alike land close together.

TensorFlow and Keras are imported inside the functions that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras

DEFAULT_SAMPLE = 1000
MAX_SAMPLE = 2000  # the scatter stays responsive and one pass stays short on a CPU
BATCH = 128


@dataclass(frozen=True)
class Embedding:
    """A 2-D map of some test images.

    Attributes:
        indices: int64 (n,) test-set indices of the points, ascending.
        coords: float32 (n, 2) the first two principal components.
        explained: float (2,) share of the activations' variance each axis keeps.
        y_true: int64 (n,) true classes.
        y_pred: int64 (n,) predicted classes (the stored predictions).
        features: width of the penultimate layer.
    """

    indices: np.ndarray
    coords: np.ndarray
    explained: tuple[float, float]
    y_true: np.ndarray
    y_pred: np.ndarray
    features: int


def stratified_sample(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """At most `limit` indices of `labels`, each class in proportion to its size.

    Each class is shuffled (seeded) and its images ranked (rank + 0.5) / class size;
    the `limit` lowest ranks are kept, so every class gets its share (to within one)
    and a small class is never left out while the sample can hold it.

    Args:
        labels: int (n,) class of each image.
        limit: the most indices to return, >= 1.
        seed: the shuffle's seed.

    Returns:
        int64 sorted indices, min(limit, n) of them.

    Raises:
        ValueError: for limit < 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1. Received: limit={limit}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen, ranks = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        chosen.append(members)
        ranks.append((np.arange(len(members)) + 0.5) / len(members))
    if not chosen:
        return np.zeros(0, np.int64)
    order = np.argsort(np.concatenate(ranks), kind="stable")[:limit]
    return np.sort(np.concatenate(chosen)[order]).astype(np.int64)


def penultimate_model(model: Any) -> Any:
    """A Keras model from `model`'s input to the input of its last Dense layer.

    Raises:
        UserError: when the model does not end in a Dense layer.
    """
    keras = import_keras()
    last = model.layers[-1] if model.layers else None
    if not isinstance(last, keras.layers.Dense):
        kind = type(last).__name__ if last is not None else "nothing"
        raise UserError(
            f"This model ends in {kind}, not a Dense layer, so it has no penultimate "
            "features to map."
        )
    return keras.Model(model.inputs, last.input)


def penultimate_activations(model: Any, images: Any, batch_size: int = BATCH) -> np.ndarray:
    """What the last Dense layer of `model` reads, for each image.

    Args:
        model: a built Keras model ending in Dense (see the module docstring).
        images: (n, h, w, c) raw pixels in [0, 255] (an array, or an image folder's
            pixel store indexed by rows).
        batch_size: images per model call.

    Returns:
        float32 (n, features), in inference mode (dropout off).
    """
    import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

    extractor = penultimate_model(model)
    call = tf.function(lambda x: extractor(x, training=False))
    parts = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size], dtype=np.float32)
        parts.append(np.asarray(call(batch)).reshape(len(batch), -1))
    if not parts:
        return np.zeros((0, int(np.prod(extractor.output.shape[1:]))), np.float32)
    return np.concatenate(parts).astype(np.float32)


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The first two principal components of `features`.

    Centred rows, SVD; each axis' sign is fixed so that its largest loading is
    positive (the same data always gives the same picture).

    Args:
        features: float (n, d), n >= 1.

    Returns:
        (coords float32 (n, 2), explained variance ratio of each axis). With fewer
        than two directions of variance the missing axis is all zeros and explains 0.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"features must be a non-empty (n, d) array. Received: shape={x.shape}")
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    coords = np.zeros((len(x), 2))
    total = float((s**2).sum())
    explained = [0.0, 0.0]
    for axis in range(min(2, len(s))):
        if s[axis] <= 1e-12 * max(1.0, s[0]):
            break
        direction = vt[axis] * np.sign(vt[axis][np.abs(vt[axis]).argmax()])
        coords[:, axis] = x @ direction
        explained[axis] = float(s[axis] ** 2 / total)
    return coords.astype(np.float32), (explained[0], explained[1])


def compute_embedding(
    model: Any,
    x_test: Any,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    limit: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> Embedding:
    """The PCA map of a stratified sample of at most `limit` test images.

    Args:
        model: the run's Keras model.
        x_test: the test images (n, h, w, c) raw pixels in [0, 255].
        y_true, y_pred: int (n,) true and predicted classes of every test image.
        limit: sample size, 1..MAX_SAMPLE.
        seed: the sample's seed.

    Raises:
        ValueError: for a limit out of range or labels that do not match the images.
    """
    if not 1 <= limit <= MAX_SAMPLE:
        raise ValueError(f"limit must be in [1, {MAX_SAMPLE}]. Received: limit={limit}")
    if not len(y_true) == len(y_pred) == len(x_test):
        raise ValueError(
            f"x_test, y_true and y_pred must have one entry per test image. Received: "
            f"{len(x_test)}, {len(y_true)}, {len(y_pred)}"
        )
    indices = stratified_sample(y_true, limit, seed)
    features = penultimate_activations(model, x_test[indices])
    coords, explained = pca_2d(features)
    return Embedding(
        indices=indices,
        coords=coords,
        explained=explained,
        y_true=np.asarray(y_true)[indices].astype(np.int64),
        y_pred=np.asarray(y_pred)[indices].astype(np.int64),
        features=int(features.shape[1]),
    )
