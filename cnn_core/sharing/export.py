"""A run's model for other programs: TensorFlow Lite, checked against Keras.

TensorFlow Lite (`.tflite`) runs on phones and microcontrollers. The converted
model takes the same input as the Keras one (float32 NHWC raw pixels in
[0, 255]; it rescales inside) and gives the same class probabilities; `to_tflite`
checks that on real test images before anyone downloads the file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras

PARITY_IMAGES = 64  # test images the converted model is checked on
PARITY_TOLERANCE = 1e-4  # largest allowed |p_tflite - p_keras| per class


@dataclass(frozen=True)
class TfliteExport:
    """A converted model and how closely it agrees with the Keras model."""

    content: bytes  # the .tflite flatbuffer
    max_difference: float  # max |p_tflite - p_keras| over images and classes
    n_images: int  # images compared
    agree: float  # share of images with the same top class, in [0, 1]

    @property
    def ok(self) -> bool:
        return self.max_difference <= PARITY_TOLERANCE


def convert_to_tflite(model: Any) -> bytes:
    """The TensorFlow Lite flatbuffer of a Keras model (float32, no quantisation).

    Raises:
        UserError: the converter refused the model.
    """
    import_keras()  # TensorFlow configured the project's way
    import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

    try:
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()
    except Exception as error:  # noqa: BLE001 - converter errors have no common type
        raise UserError(f"TensorFlow Lite could not convert this model ({error})") from error


def tflite_probabilities(content: bytes, images: np.ndarray) -> np.ndarray:
    """Run a .tflite model on a batch.

    Args:
        content: the .tflite flatbuffer.
        images: float32 (n, h, w, c) raw pixels in [0, 255].

    Returns:
        float32 (n, n_classes) probabilities.
    """
    import_keras()  # TensorFlow configured the project's way
    import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "tf.lite.Interpreter is deprecated"
        interpreter = tf.lite.Interpreter(model_content=content)
    (inp,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(inp["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], images.astype(np.float32))
    interpreter.invoke()
    (out,) = interpreter.get_output_details()
    return np.asarray(interpreter.get_tensor(out["index"]), dtype=np.float32)


def to_tflite(model: Any, images: np.ndarray) -> TfliteExport:
    """Convert `model` and compare its probabilities with Keras' on `images`.

    Args:
        model: a Keras model taking float32 (n, h, w, c) pixels in [0, 255].
        images: (n, h, w, c) test images in [0, 255], any numeric dtype; n >= 1.

    Raises:
        ValueError: no images, or images of another shape than the model's input.
        UserError: the converter refused the model.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a (n, h, w, c) batch, got {images.shape}")
    if tuple(images.shape[1:]) != tuple(model.input_shape[1:]):
        raise ValueError(f"images {images.shape[1:]} do not fit the model {model.input_shape}")
    content = convert_to_tflite(model)
    lite = tflite_probabilities(content, images)
    keras_probs = np.asarray(model(images, training=False), dtype=np.float32)
    return TfliteExport(
        content=content,
        max_difference=float(np.abs(lite - keras_probs).max()),
        n_images=len(images),
        agree=float(np.mean(lite.argmax(1) == keras_probs.argmax(1))),
    )
