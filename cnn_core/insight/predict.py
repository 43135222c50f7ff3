"""Fast prediction with a loaded model: one compiled call per batch, never per image.

Model input everywhere is float32 raw pixels in [0, 255] (see ``cnn_core.data.images``).

`model.predict` costs ~90 ms a call on a small CNN here and an eager
`model(x)` ~10 ms; the `tf.function`-compiled call below ~1 ms, which keeps the
drawing canvas responsive while the user draws.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.images import decode_image, to_model_input

DIGITS_DATASET = "mnist"  # the dataset whose models read hand-drawn digits
DIGIT_SHAPE = (28, 28, 1)


def reads_digits(input_shape: tuple[int, ...], dataset: str | None) -> bool:
    """The one rule for "this model reads hand-drawn digits".

    Such a model gets the drawing canvas and the MNIST digit recipe for uploads
    (``images.to_digit_input``); other 28 x 28 x 1 models (Fashion-MNIST) get
    the whole-item recipe.

    Args:
        input_shape: the model's (h, w, c), batch axis excluded.
        dataset: the dataset key the model was trained on; None when unknown.

    Returns:
        True for a (28, 28, 1) model trained on MNIST.
    """
    return tuple(input_shape) == DIGIT_SHAPE and dataset == DIGITS_DATASET


class Predictor:
    """Class probabilities for raw-pixel images, via one compiled model call.

    Wraps ``model(x, training=False)`` in a ``tf.function`` with a fixed input
    signature (any batch size), so each call after the first is one graph run.
    Images are float raw pixels in [0, 255], as training feeds them (the models
    rescale with their own ``Rescaling`` layer).

    Args:
        model: a loaded Keras model, NHWC input, softmax output.
        mirror: a run with test-time flips (`AugmentSpec.mirror_average`): each
            image's probabilities are the mean of the model's for it and for its
            left-right mirror image, in the same one call.

    Attributes:
        model: the wrapped model.
        input_shape: (h, w, c) the model expects.
        num_classes: size of the softmax output.
        mirror: whether predictions average the mirror image's.
    """

    def __init__(self, model: Any, mirror: bool = False) -> None:
        import_keras()
        import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

        self.model = model
        self.input_shape: tuple[int, int, int] = tuple(int(d) for d in model.input_shape[1:])
        self.num_classes = int(model.output_shape[-1])
        self.mirror = mirror
        # (n, h, w, c) float32: the signature every compiled view of the model shares
        self._signature = tf.TensorSpec((None, *self.input_shape), tf.float32)
        self._call = tf.function(
            (lambda x: mirror_mean(model, x)) if mirror else (lambda x: model(x, training=False)),
            input_signature=[self._signature],
        )

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities float32 (n, num_classes) for images (n, h, w, c) in [0, 255].

        Raises:
            ValueError: when ``images`` is not (n, *input_shape).
        """
        return self._call(self._checked_batch(images)).numpy()

    def image_probabilities(self, image: np.ndarray) -> np.ndarray:
        """Probabilities float32 (num_classes,) for one image (h, w, c) in [0, 255].

        Raises:
            ValueError: when ``image`` is not ``input_shape``.
        """
        return self._call(self._batch_of_one(image)).numpy()[0]

    def _checked_batch(self, images: np.ndarray) -> np.ndarray:
        """``images`` as float32 (n, h, w, c); ValueError for another shape (our bug)."""
        batch = np.asarray(images, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != self.input_shape:
            raise ValueError(
                f"images must be (n, {', '.join(map(str, self.input_shape))}) for this model. "
                f"Received: shape={batch.shape}"
            )
        return batch

    def _batch_of_one(self, image: np.ndarray) -> np.ndarray:
        """One (h, w, c) image as a checked float32 (1, h, w, c) batch."""
        return self._checked_batch(np.asarray(image)[np.newaxis])


def mirror_mean(model: Any, images: Any) -> Any:
    """Inside a `tf.function`: the mean of `model`'s probabilities for `images` (n, h, w,
    c) and for their mirror images, from one call on both stacked."""
    import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

    both = model(tf.concat([images, tf.reverse(images, axis=[2])], axis=0), training=False)
    plain, mirrored = tf.split(both, 2, axis=0)
    return (plain + mirrored) / 2


@dataclass
class PreparedUploads:
    """Uploaded files turned into model input; bad files become one-line messages."""

    names: list[str] = field(default_factory=list)
    images: list[Image.Image] = field(default_factory=list)  # decoded, mode L or RGB
    inputs: list[np.ndarray] = field(default_factory=list)  # each float32 (h, w, c) in [0, 255]
    errors: list[str] = field(default_factory=list)

    def batch(self) -> np.ndarray:
        """All inputs stacked: float32 (n, h, w, c), for one batched model call."""
        return np.stack(self.inputs).astype(np.float32)


def prepare_uploads(
    files: Iterable[tuple[str, bytes]],
    input_shape: tuple[int, int, int],
    digits: bool = True,
    pad: bool = False,
) -> PreparedUploads:
    """Decode and preprocess every file; a bad one never stops the others.

    Args:
        files: (file name, raw bytes) pairs as uploaded.
        input_shape: the model's (h, w, c).
        digits: the model reads handwritten digits (``reads_digits``; MNIST recipe
            for 28x28x1 input).
        pad: keep the aspect ratio and pad, as an image folder imported with
            "keep aspect, pad" was stored (``cnn_core.data.user.store.pads_images``).

    Returns:
        The prepared uploads; ``inputs`` are float32 (h, w, c) in [0, 255].

    Raises:
        ValueError: for an ``input_shape`` no image can be prepared for.
    """
    prepared = PreparedUploads()
    for name, data in files:
        try:
            image = decode_image(data, name)
            model_input = to_model_input(image, input_shape, digits, pad)
        except UserError as error:
            message = str(error)
            prepared.errors.append(message if message.startswith(name) else f"{name}: {message}")
            continue
        prepared.names.append(name)
        prepared.images.append(image)
        prepared.inputs.append(model_input)
    return prepared
