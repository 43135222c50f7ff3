"""VGG16 transfer models in Keras: build one, switch its phase, cut off its tail.

A "vgg16" model is one functional Keras model, saved as one `.keras` file:

    image (h, w, c) raw pixels in [0, 255]
    -> resize      Resizing to (size, size), bilinear
    -> preprocess  frozen Dense(3) on each pixel: grey repeated to 3 channels,
                   RGB -> BGR, ImageNet mean subtracted (Keras' caffe-mode
                   `vgg16.preprocess_input`, no division by 255)
    -> block1_conv1 ... block5_pool   VGG16's convolutional base, its layers
                   flattened into this model (so the Inspector sees every block)
    -> head_pool (global average) or head_flatten -> head_dense (ReLU)
    -> head_dropout -> predictions (softmax)

The preprocessing is an ordinary layer, not a Lambda, so `safe_mode` loading
works and Predict, Evaluate and Inside the CNN see exactly what training saw.
A Dense on the channel axis (not a 1x1 Conv2D) keeps the Inspector's list of
convolutions VGG16's own 13, block1_conv1 first.

Phase "head" trains the head on the frozen base; phase "fine-tune" also
unfreezes block5 (`set_phase`). Keras is imported inside the functions
(`import_keras`), never when this module is imported.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import TYPE_CHECKING

import numpy as np

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.augment import apply_augmentation
from cnn_core.models.patch_conv import patched
from cnn_core.models.vgg16 import FINE_TUNE_BLOCK, PHASE_FINE_TUNE, PHASE_HEAD, VGG16_BLOCKS
from cnn_core.models.vgg16_weights import resolve_weights
from cnn_core.schema.config import AugmentSpec, ModelSpec

if TYPE_CHECKING:
    import keras

# Caffe-mode preprocessing: BGR channel means of ImageNet, subtracted from 0-255 pixels.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess_weights(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel float32 (channels, 3) and bias (3,) of the caffe-mode preprocessing.

    Output channel j (B, G, R) takes input channel 2 - j (R, G, B), or the only
    channel of a greyscale image, minus ImageNet's mean of that BGR channel.

    Raises:
        ValueError: channels is neither 1 nor 3.
    """
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels. Received: channels={channels}")
    kernel = np.zeros((channels, 3), np.float32)
    for j in range(3):
        kernel[0 if channels == 1 else 2 - j, j] = 1.0
    return kernel, -np.asarray(IMAGENET_MEAN_BGR, np.float32)


def build_vgg16(
    spec: ModelSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int = 0,
    augment: AugmentSpec | None = None,
) -> keras.Model:
    """Build the (uncompiled) model of a vgg16 spec, set up for the head phase.

    `augment` adds random preprocessing layers after the input (active in training
    only); such a model always trains the whole network (no feature cache).

    Raises:
        UserError: the weights file is missing, not downloaded, or does not fit VGG16.
    """
    keras = import_keras()
    layers = keras.layers
    vgg = spec.vgg16
    size = vgg.input_size
    keras.utils.set_random_seed(seed)
    weights = resolve_weights(vgg)
    try:
        with warnings.catch_warnings():
            # Keras warns (and goes on with random weights) when a file only partly fits.
            warnings.simplefilter("error", UserWarning)
            base = keras.applications.VGG16(
                include_top=False, weights=weights, input_shape=(size, size, 3)
            )
    except (ValueError, OSError, KeyError, TypeError, UserWarning) as error:
        raise UserError(
            f"the VGG16 weights file {weights} does not fit VGG16's convolutional base "
            f"(include_top=False): {error}"
        ) from error
    inputs = keras.Input(shape=input_shape, name="image")
    augmented = apply_augmentation(inputs, augment, seed)
    x = layers.Resizing(size, size, interpolation="bilinear", name="resize")(augmented)
    kernel, bias = preprocess_weights(input_shape[2])
    preprocess = layers.Dense(3, name="preprocess", trainable=False)
    x = preprocess(x)
    preprocess.set_weights([kernel, bias])
    for layer in base.layers[1:]:  # the base's own InputLayer is replaced by ours
        # A fresh copy, called once: `layer.output` then means this model's tensor.
        copy = type(layer).from_config(layer.get_config())
        x = copy(x)
        copy.set_weights(layer.get_weights())
    if vgg.head == "gap":
        x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    else:
        x = layers.Flatten(name="head_flatten")(x)
    x = layers.Dense(vgg.dense_units, activation="relu", name="head_dense")(x)
    x = layers.Dropout(vgg.dropout, seed=seed, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="vgg16")
    set_phase(model, PHASE_HEAD)
    return model


def base_layer_names() -> list[str]:
    """VGG16's conv and pool layer names, input to output."""
    names = []
    for b, filters in enumerate(VGG16_BLOCKS, start=1):
        names += [f"block{b}_conv{i}" for i in range(1, len(filters) + 1)]
        names.append(f"block{b}_pool")
    return names


def set_phase(model: keras.Model, phase: str) -> None:
    """Freeze the base (head phase) or unfreeze block5 too (fine-tune phase).

    The preprocessing layer always stays frozen. Recompile after calling this.

    Raises:
        ValueError: an unknown phase.
    """
    if phase not in (PHASE_HEAD, PHASE_FINE_TUNE):
        raise ValueError(
            f"phase must be {PHASE_HEAD!r} or {PHASE_FINE_TUNE!r}. Received: {phase!r}"
        )
    base = set(base_layer_names())
    for layer in model.layers:
        if layer.name in base:
            layer.trainable = phase == PHASE_FINE_TUNE and layer.name.startswith(FINE_TUNE_BLOCK)
        elif layer.name in ("resize", "preprocess"):
            layer.trainable = False


def tail_model(model: keras.Model, from_layer: str, patch_trainable: bool = False) -> keras.Model:
    """The part of `model` after `from_layer`, as a model of its own.

    It shares `model`'s layers (and so its weights): training the tail trains
    the full model. Its input is `from_layer`'s output. With `patch_trainable`,
    each trainable Conv2D on a small map runs as patches x kernel matrix
    (`cnn_core.models.patch_conv`: the same function, a much faster weight gradient on
    CPUs); such a tail is for training, never saved.

    Raises:
        ValueError: `from_layer` is not a layer of the chain.
    """
    keras = import_keras()
    names = [layer.name for layer in model.layers]
    if from_layer not in names:
        raise ValueError(f"{from_layer!r} is not a layer of {model.name}. Layers: {names}")
    start = names.index(from_layer)
    inputs = keras.Input(shape=tuple(model.layers[start].output.shape[1:]), name=from_layer)
    x = inputs
    for layer in model.layers[start + 1 :]:
        x = (patched(layer) if patch_trainable and layer.trainable else layer)(x)
    return keras.Model(inputs, x, name=f"{model.name}_after_{from_layer}")


def weights_digest(model: keras.Model, up_to: str) -> str:
    """A digest of every weight from the input up to layer `up_to` (a cache key part)."""
    digest = hashlib.blake2b(digest_size=12)
    for layer in model.layers:
        for weight in layer.get_weights():
            digest.update(np.ascontiguousarray(weight).tobytes())
        if layer.name == up_to:
            break
    return digest.hexdigest()
