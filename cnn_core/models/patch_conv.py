"""A Conv2D computed as image patches times its kernel matrix, for training on CPUs.

oneDNN's weight gradient of a 3x3 convolution on the small maps of VGG16's
block5 (2x2 at 32 px, 4x4 at 64 px) runs about ten times slower than the
layer's forward pass on this kind of CPU, and it dominates a fine-tuning step.
Written as "im2col" (the nine shifted copies of the padded input side by side,
then one matrix product with the kernel reshaped to (9 * channels_in,
channels_out)), the same layer's forward and backward passes are matrix
products, which the CPU runs well: `benchmarks/bench_vgg16_cache.py` has the
figures.

`patched(conv)` wraps an existing `keras.layers.Conv2D` and shares its kernel
and bias (training the wrapper trains the layer, which is what gets saved);
it is used only inside the training-time models of `cnn_core.models.vgg16_build`, never
saved. Imports Keras lazily.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cnn_core.base.tf_runtime import import_keras

# Maps this small or smaller (height x width of the layer's input) train faster
# as patches; from 8x8 (VGG16's block5 at 128 px) on, the library's convolution
# is as fast, so larger maps keep it.
MAX_PATCH_AREA = 6 * 6


def can_patch(layer: Any) -> bool:
    """Whether `layer` is a Conv2D the patch form computes exactly (stride 1, no
    dilation or groups, 'same' or 'valid' padding, channels last) on a small map."""
    keras = import_keras()
    if type(layer) is not keras.layers.Conv2D:
        return False
    config = layer.get_config()
    shape = layer.input.shape  # (None, h, w, c)
    return (
        tuple(config["strides"]) == (1, 1)
        and tuple(config["dilation_rate"]) == (1, 1)
        and config.get("groups", 1) == 1
        and config["padding"] in ("same", "valid")
        and config["data_format"] == "channels_last"
        and shape[1] is not None
        and shape[2] is not None
        and shape[1] * shape[2] <= MAX_PATCH_AREA
    )


@cache
def _patch_conv_class() -> type:
    keras = import_keras()
    ops = keras.ops

    class PatchConv2D(keras.layers.Layer):
        """`conv` (a Conv2D) as patches x kernel matrix; shares its weights."""

        def __init__(self, conv: Any, **kwargs: Any) -> None:
            super().__init__(name=f"{conv.name}_patches", **kwargs)
            self.conv = conv  # tracked: its kernel and bias are this layer's weights

        def call(self, x: Any) -> Any:
            conv = self.conv
            kh, kw, c_in, c_out = conv.kernel.shape
            if conv.padding == "same":  # Keras' 'same': the extra row/column goes after
                top, left = (kh - 1) // 2, (kw - 1) // 2
                x = ops.pad(x, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]])
            h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
            patches = ops.concatenate(
                [x[:, i : i + h, j : j + w, :] for i in range(kh) for j in range(kw)], axis=-1
            )  # (batch, h, w, kh * kw * c_in), in the kernel's (i, j, c_in) order
            y = ops.matmul(patches, ops.reshape(conv.kernel, (kh * kw * c_in, c_out)))
            if conv.use_bias:
                y = y + conv.bias
            return conv.activation(y)

        def compute_output_shape(self, input_shape: tuple) -> tuple:
            return self.conv.compute_output_shape(input_shape)

        def get_config(self) -> dict:  # for TensorBoard's graph view; never saved
            config = super().get_config()
            del config["name"]  # derived from the wrapped layer's
            return {**config, "conv": keras.saving.serialize_keras_object(self.conv)}

        @classmethod
        def from_config(cls, config: dict) -> Any:
            conv = keras.saving.deserialize_keras_object(config.pop("conv"))
            return cls(conv, **config)

    return PatchConv2D


def patched(layer: Any) -> Any:
    """`layer` as patches x kernel matrix when `can_patch(layer)`, else `layer` itself."""
    return _patch_conv_class()(layer) if can_patch(layer) else layer
