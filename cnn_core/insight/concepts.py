"""The operations a CNN is built from, in plain numpy, for the Concepts section.

Each function mirrors what Keras does so the page can show it on a real image
and the tests can check it against Keras: ``conv2d`` is a sliding dot product
(cross-correlation, no kernel flip) with TensorFlow's padding rule,
``pool2d`` is valid-padding pooling, ``dropout`` is inverted dropout.
Only ``keras_output_size`` uses Keras, imported when it is called.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.insight.embedding import penultimate_activations
from cnn_core.insight.inspection import conv_layer_names

PADDINGS = ("valid", "same", "full")
POOL_MODES = ("max", "avg")
PIXEL_SCALE = np.float32(1.0 / 255)  # what the models' Rescaling(1/255) layer multiplies by


def _kernel(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    """Returns a read-only float32 kernel so the shared table cannot be edited."""
    kernel = np.asarray(rows, dtype=np.float32) * np.float32(scale)
    kernel.setflags(write=False)
    return kernel


# Named 3x3 kernels, shape (3, 3) float32. Edge detectors respond where the
# brightness changes along one direction: "horizontal edges" are rows of
# light above dark (or the reverse), found by a vertical gradient.
KERNELS: MappingProxyType[str, np.ndarray] = MappingProxyType(
    {
        "identity": _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        "horizontal edges": _kernel([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
        "vertical edges": _kernel([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
        "sobel horizontal": _kernel([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
        "sobel vertical": _kernel([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
        "sharpen": _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "box blur": _kernel([[1, 1, 1], [1, 1, 1], [1, 1, 1]], scale=1 / 9),
        "gaussian blur": _kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=1 / 16),
        "laplacian": _kernel([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        "emboss": _kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    }
)


def _check_positive_int(value: int, field: str) -> None:
    """Raises UserError unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise UserError(f"{field} must be a whole number >= 1. Received: {field}={value!r}")


def _check_choice(value: str, allowed: tuple[str, ...], field: str) -> None:
    """Raises UserError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise UserError(f"{field} must be one of {', '.join(allowed)}. Received: {field}={value!r}")


def output_size(n: int, k: int, s: int = 1, padding: str = "valid") -> int:
    """Length of a convolution output along one axis.

    valid (no padding): floor((n - k) / s) + 1, and 0 when k > n.
    same (TensorFlow's rule, pads just enough): ceil(n / s), whatever k is.
    full (k - 1 zeros on both sides): floor((n + k - 2) / s) + 1.

    Args:
        n: input length, >= 1.
        k: kernel (or pooling window) length, >= 1.
        s: stride, >= 1.
        padding: "valid", "same" or "full".

    Returns:
        The output length, >= 0.

    Raises:
        UserError: for a non-positive size or an unknown padding.
    """
    for value, field in ((n, "n"), (k, "k"), (s, "stride")):
        _check_positive_int(value, field)
    _check_choice(padding, PADDINGS, "padding")
    if padding == "same":
        return math.ceil(n / s)
    if padding == "full":
        return (n + k - 2) // s + 1
    return 0 if k > n else (n - k) // s + 1


def keras_output_size(n: int, k: int, s: int = 1, padding: str = "valid") -> int | None:
    """The output side a real Keras ``Conv2D`` computes for an n x n input.

    Reads ``compute_output_shape`` of a Conv2D layer (no weights are built).
    Keras has no "full" padding: ``ZeroPadding2D(k - 1)`` then a valid
    Conv2D is the same thing.

    Args:
        n, k, s: input side, kernel side and stride, each >= 1.
        padding: "valid", "same" or "full".

    Returns:
        The output side, or None when Keras refuses the layer (a kernel
        larger than a "valid" input).

    Raises:
        UserError: for a non-positive size or an unknown padding.
    """
    for value, field in ((n, "n"), (k, "k"), (s, "stride")):
        _check_positive_int(value, field)
    _check_choice(padding, PADDINGS, "padding")
    keras = import_keras()
    shape = (1, n, n, 1)
    try:
        if padding == "full":
            shape = keras.layers.ZeroPadding2D(k - 1).compute_output_shape(shape)
            padding = "valid"
        out = keras.layers.Conv2D(1, k, strides=s, padding=padding).compute_output_shape(shape)
    except ValueError:
        return None
    return int(out[1])


def _pad_amounts(n: int, k: int, s: int, padding: str) -> tuple[int, int]:
    """Zeros added (before, after) one axis; "same" puts the odd one after, as TF does."""
    if padding == "full":
        return k - 1, k - 1
    if padding == "same":
        total = max((output_size(n, k, s, "same") - 1) * s + k - n, 0)
        return total // 2, total - total // 2
    return 0, 0


def conv2d(
    image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: str = "valid"
) -> np.ndarray:
    """Slides ``kernel`` over ``image`` and takes a dot product at each step.

    This is cross-correlation (the kernel is not flipped), which is what a
    Keras ``Conv2D`` layer computes; zeros pad the border for "same"/"full".

    Args:
        image: (H, W) array, or (H, W, C) with a (kh, kw, C) kernel whose
            products are summed over channels (one filter of a conv layer).
        kernel: (kh, kw) or (kh, kw, C) weights.
        stride: step between windows, >= 1, same on both axes.
        padding: "valid", "same" or "full" (see ``output_size``).

    Returns:
        float32 array (H', W') with H' = output_size(H, kh, stride, padding).

    Raises:
        UserError: for mismatched shapes, a kernel larger than a "valid"
            image, a bad stride or an unknown padding.
    """
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    _check_positive_int(stride, "stride")
    _check_choice(padding, PADDINGS, "padding")
    if image.ndim != kernel.ndim or image.ndim not in (2, 3):
        raise UserError(
            "image and kernel must both be 2-D (H, W) or both 3-D (H, W, C). "
            f"Received: image shape {image.shape}, kernel shape {kernel.shape}"
        )
    if image.ndim == 3 and image.shape[2] != kernel.shape[2]:
        raise UserError(
            f"kernel channels must match image channels ({image.shape[2]}). "
            f"Received: kernel shape {kernel.shape}"
        )
    (h, w), (kh, kw) = image.shape[:2], kernel.shape[:2]
    if padding == "valid" and (kh > h or kw > w):
        raise UserError(
            f"kernel {kh}x{kw} is larger than the image {h}x{w}; use padding 'same' or 'full'."
        )
    pads = [_pad_amounts(h, kh, stride, padding), _pad_amounts(w, kw, stride, padding)]
    padded = np.pad(image, pads + [(0, 0)] * (image.ndim - 2))
    # windows: (H', W', kh, kw) or (H', W', C, kh, kw) before the stride slice
    windows = sliding_window_view(padded, (kh, kw), axis=(0, 1))[::stride, ::stride]
    if image.ndim == 2:
        out = np.einsum("ijkl,kl->ij", windows, kernel)
    else:
        out = np.einsum("ijckl,klc->ij", windows, kernel)
    return out.astype(np.float32)


def strongest_response(image: np.ndarray, kernel_name: str) -> tuple[int, int]:
    """Where a named kernel answers most strongly on an image.

    Args:
        image: (H, W) grey image, any range, at least 3x3.
        kernel_name: a key of ``KERNELS``.

    Returns:
        (row, col) of the largest absolute value of the valid, stride-1
        output (H - 2, W - 2); the first one on a tie.

    Raises:
        UserError: for an unknown kernel name or a too small image.
    """
    _check_choice(kernel_name, tuple(KERNELS), "kernel_name")
    return strongest_position(image, KERNELS[kernel_name])


def strongest_position(image: np.ndarray, kernel: np.ndarray) -> tuple[int, int]:
    """(row, col) of the largest |output| of `kernel` (kh, kw) slid over `image` (H, W),
    valid padding, stride 1; the first one on a tie."""
    out = np.abs(conv2d(image, kernel))
    row, col = np.unravel_index(int(out.argmax()), out.shape)
    return int(row), int(col)


def first_layer_filters(model: Any) -> tuple[str, np.ndarray] | None:
    """The first conv layer of a trained model as 2-D kernels for a grey image.

    A filter over C input channels, applied to a grey image repeated on every channel,
    is the sum of its C channel slices: that sum is returned (the bias is left out).

    Args:
        model: a built Keras model.

    Returns:
        (layer name, float32 (n_filters, kh, kw)), or None for a model without Conv2D.
    """
    names = conv_layer_names(model)
    if not names:
        return None
    kernel = np.asarray(model.get_layer(names[0]).kernel.numpy(), np.float32)  # (kh, kw, C, n)
    return names[0], np.transpose(kernel.sum(axis=2), (2, 0, 1))


def model_logits(model: Any, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a trained model's output layer computes for one image, before and after softmax.

    Args:
        model: a built Keras model ending in a softmax Dense (``cnn_core.models.cnn``).
        image: (H, W, C) raw pixels in [0, 255].

    Returns:
        (logits, probabilities), float32 (num_classes,) each: the logits are the last
        Dense layer's weighted sums (its input times its kernel plus its bias); the
        probabilities are the model's own output.
    """
    batch = np.asarray(image, np.float32)[np.newaxis]
    features = penultimate_activations(model, batch)[0].astype(np.float64)
    kernel, bias = (np.asarray(w, np.float64) for w in model.layers[-1].get_weights()[:2])
    probs = np.asarray(model(batch, training=False))[0]
    return (features @ kernel + bias).astype(np.float32), probs.astype(np.float32)


def pool2d(
    x: np.ndarray, size: int = 2, stride: int | None = None, mode: str = "max"
) -> np.ndarray:
    """Max or average pooling with no padding, like Keras' pooling layers.

    Windows that would run past the edge are dropped (padding "valid").

    Args:
        x: (H, W) or (H, W, C) array; channels are pooled separately.
        size: square window side, >= 1, at most min(H, W).
        stride: step between windows, >= 1; None means ``size`` (Keras' default).
        mode: "max" or "avg".

    Returns:
        float32 array (H', W'[, C]) with H' = floor((H - size) / stride) + 1.

    Raises:
        UserError: for a bad size, stride or mode, or a window larger than x.
    """
    x = np.asarray(x, dtype=np.float32)
    stride = size if stride is None else stride
    _check_positive_int(size, "size")
    _check_positive_int(stride, "stride")
    _check_choice(mode, POOL_MODES, "mode")
    if x.ndim not in (2, 3):
        raise UserError(f"x must be (H, W) or (H, W, C). Received: shape {x.shape}")
    if size > min(x.shape[:2]):
        raise UserError(
            f"size must be at most {min(x.shape[:2])} for a {x.shape[0]}x{x.shape[1]} input. "
            f"Received: size={size}"
        )
    # windows: (H', W'[, C], size, size)
    windows = sliding_window_view(x, (size, size), axis=(0, 1))[::stride, ::stride]
    reduce = np.max if mode == "max" else np.mean
    return reduce(windows, axis=(-2, -1)).astype(np.float32)


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit: max(x, 0), elementwise, same shape as ``x``."""
    return np.maximum(np.asarray(x, dtype=np.float32), np.float32(0))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Turns scores into probabilities along the last axis.

    Subtracting the maximum first keeps exp() from overflowing, so logits of
    1000 give the same answer as logits of 0 (softmax is shift-invariant).

    Args:
        logits: (..., K) array of finite scores.

    Returns:
        float64 array of the same shape, in [0, 1], summing to 1 along the last axis.

    Raises:
        UserError: for an empty or non-finite input.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.size == 0 or not np.all(np.isfinite(logits)):
        raise UserError("logits must be a non-empty array of finite numbers.")
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def dropout(x: np.ndarray, rate: float, seed: int = 0) -> np.ndarray:
    """Inverted dropout as at training time: zero a fraction, scale up the rest.

    Each value is dropped with probability ``rate``; survivors are divided by
    (1 - rate) so the expected value of every unit is unchanged, which is why
    Keras needs no rescaling at inference (when dropout does nothing).

    Args:
        x: array of any shape.
        rate: probability of dropping a value, in [0, 1).
        seed: seed of the random mask, for repeatable demos.

    Returns:
        float32 array shaped like ``x``: 0 or x / (1 - rate).

    Raises:
        UserError: when rate is outside [0, 1).
    """
    if not 0.0 <= float(rate) < 1.0:
        raise UserError(f"rate must be in [0, 1). Received: rate={rate!r}")
    x = np.asarray(x, dtype=np.float32)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return np.where(keep, x / np.float32(1.0 - rate), np.float32(0)).astype(np.float32)


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Averages an RGB image to one channel with ITU-R BT.601 luma weights.

    Args:
        image: (H, W), (H, W, 1) or (H, W, 3) pixels in any range.

    Returns:
        float32 (H, W) in the same range.

    Raises:
        UserError: for any other shape.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    raise UserError(f"image must be (H, W), (H, W, 1) or (H, W, 3). Received: shape {image.shape}")


def rescaled_grayscale(image: np.ndarray) -> np.ndarray:
    """The grey image scaled as the models see it: raw pixels times 1/255.

    The models take raw pixels and rescale them in their first layer
    (``Rescaling(1/255)``); this applies the same factor to the grey version.

    Args:
        image: (H, W), (H, W, 1) or (H, W, 3) raw pixels in [0, 255].

    Returns:
        float32 (H, W) in [0, 1].

    Raises:
        UserError: for any other shape.
    """
    return to_grayscale(image) * PIXEL_SCALE
