"""Data augmentation as Keras preprocessing layers inside the model.

The layers sit between the model's input and its `Rescaling` layer and work on
raw pixels in [0, 255]. Keras applies them only while training (`training=True`);
at inference they pass images through unchanged, so a saved model predicts on
plain images. `preview` shows what training sees. TensorFlow is imported lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn_core.base.tf_runtime import import_keras
from cnn_core.schema.config import AugmentSpec, augment_problems


def layer_plan(spec: AugmentSpec | None) -> list[tuple[str, str]]:
    """(name, Keras class) of each augmentation layer `spec` adds, in model order."""
    if spec is None or not spec.active:
        return []
    plan = []
    if spec.flip != "none":
        plan.append(("aug_flip", "RandomFlip"))
    for field, kind in (
        ("rotation", "RandomRotation"),
        ("zoom", "RandomZoom"),
        ("translation", "RandomTranslation"),
        ("contrast", "RandomContrast"),
    ):
        if getattr(spec, field) > 0:
            plan.append((f"aug_{field}", kind))
    return plan


def augmentation_layers(spec: AugmentSpec | None, seed: int = 0) -> list[Any]:
    """The Keras layers of `spec` (empty when nothing is switched on), named as `layer_plan`."""
    layers = import_keras().layers
    built = []
    for name, kind in layer_plan(spec):
        assert spec is not None
        if kind == "RandomFlip":
            built.append(layers.RandomFlip(spec.flip, seed=seed, name=name))
        elif kind == "RandomRotation":
            built.append(layers.RandomRotation(spec.rotation, seed=seed, name=name))
        elif kind == "RandomZoom":
            built.append(layers.RandomZoom((-spec.zoom, spec.zoom), seed=seed, name=name))
        elif kind == "RandomTranslation":
            t = spec.translation
            built.append(layers.RandomTranslation(t, t, seed=seed, name=name))
        else:
            built.append(layers.RandomContrast(spec.contrast, (0, 255), seed=seed, name=name))
    return built


def apply_augmentation(inputs: Any, spec: AugmentSpec | None, seed: int = 0) -> Any:
    """`inputs` (a Keras tensor) passed through the augmentation layers of `spec`."""
    x = inputs
    for layer in augmentation_layers(spec, seed):
        x = layer(x)
    return x


def preview(image: np.ndarray, spec: AugmentSpec, n: int = 8, seed: int = 0) -> np.ndarray:
    """`n` augmented versions of one image, as training would see them.

    Args:
        image: uint8 (h, w, c) in [0, 255].
        spec: a valid augmentation spec.
        n: how many versions.
        seed: the same seed and spec give the same versions.

    Returns:
        uint8 (n, h, w, c) in [0, 255].

    Raises:
        ValueError: an invalid spec or an image that is not (h, w, c).
    """
    problems = augment_problems(spec)
    if problems:
        raise ValueError("; ".join(problems))
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be (h, w, c). Received: shape={image.shape}")
    batch = np.repeat(image[np.newaxis].astype(np.float32), n, axis=0)  # (n, h, w, c)
    x: Any = batch
    for layer in augmentation_layers(spec, seed):
        x = layer(x, training=True)
    return np.clip(np.rint(np.asarray(x)), 0, 255).astype(np.uint8)
