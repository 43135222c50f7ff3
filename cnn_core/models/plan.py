"""The layer plan of a model spec, in pure Python: the Train page's instant summary.

`describe_model` computes every layer's output shape and parameter count without
TensorFlow, so the Train page shows the summary (and a memory estimate) before
anything is built; a test checks it against the real Keras model layer for layer.
The plain models (softmax, CNN) and VGG16 transfer models are planned here side
by side, so building (`cnn`, `vgg16_build`) and planning never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnn_core.data.augment import layer_plan
from cnn_core.models.vgg16 import FINE_TUNE_BLOCK, PHASE_FINE_TUNE, PHASE_HEAD, VGG16_BLOCKS
from cnn_core.schema.config import AugmentSpec, ModelSpec

BYTES_PER_FLOAT = 4
# Optimizer state per parameter, in parameter-sized slots.
OPTIMIZER_SLOTS = {"adam": 2, "rmsprop": 1, "sgd": 1}


@dataclass(frozen=True)
class LayerRow:
    """One layer of the plan: name, kind, output shape (no batch), parameters."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int


def describe_model(
    spec: ModelSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    augment: AugmentSpec | None = None,
) -> list[LayerRow]:
    """The layer plan of `spec`, matching `cnn.build_model` layer for layer.

    Assumes `spec` passed `config.validate_model` for this input shape.
    """
    if spec.kind == "vgg16":
        return describe_vgg16(spec, input_shape, num_classes)
    h, w, c = input_shape
    rows = [LayerRow("image", "InputLayer", (h, w, c), 0, 0)]
    rows += [LayerRow(name, kind, (h, w, c), 0, 0) for name, kind in layer_plan(augment)]
    rows.append(LayerRow("rescale", "Rescaling", (h, w, c), 0, 0))
    for i, block in enumerate(spec.conv_blocks if spec.kind == "cnn" else (), start=1):
        k = block.kernel_size
        if block.padding == "valid":
            h, w = h - k + 1, w - k + 1
        params = k * k * c * block.filters + block.filters
        c = block.filters
        rows.append(LayerRow(f"conv{i}", "Conv2D", (h, w, c), params, params))
        if block.batch_norm:
            rows.append(LayerRow(f"bn{i}", "BatchNormalization", (h, w, c), 4 * c, 2 * c))
        if block.pool:
            h, w = h // 2, w // 2
            rows.append(LayerRow(f"pool{i}", "MaxPooling2D", (h, w, c), 0, 0))
    features = h * w * c
    rows.append(LayerRow("flatten", "Flatten", (features,), 0, 0))
    for j, dense in enumerate(spec.dense_layers if spec.kind == "cnn" else (), start=1):
        params = features * dense.units + dense.units
        features = dense.units
        rows.append(LayerRow(f"dense{j}", "Dense", (features,), params, params))
        if dense.dropout > 0:
            rows.append(LayerRow(f"dropout{j}", "Dropout", (features,), 0, 0))
    params = features * num_classes + num_classes
    rows.append(LayerRow("predictions", "Dense (softmax)", (num_classes,), params, params))
    return rows


def estimate_batch_memory(rows: list[LayerRow], batch_size: int, optimizer: str) -> int:
    """Rough bytes needed to train one batch: weights, gradients, optimizer
    state, and every layer's activations kept for the backward pass (x2 for
    their gradients), all float32."""
    total_params = sum(r.params for r in rows)
    trainable = sum(r.trainable for r in rows)
    activations = sum(_prod(r.output_shape) for r in rows)
    slots = OPTIMIZER_SLOTS.get(optimizer, 2)
    weights = (total_params + trainable * (1 + slots)) * BYTES_PER_FLOAT
    return weights + 2 * activations * batch_size * BYTES_PER_FLOAT


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for dim in shape:
        out *= dim
    return out


def describe_vgg16(
    spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int
) -> list[LayerRow]:
    """The layer plan of a vgg16 spec, matching `vgg16_build.build_vgg16` layer for layer.

    `trainable` counts are those of the head phase (the base frozen); see
    `phase_parameters` for both phases.
    """
    vgg = spec.vgg16
    size = vgg.input_size
    h, w, c = input_shape
    rows = [
        LayerRow("image", "InputLayer", (h, w, c), 0, 0),
        LayerRow("resize", "Resizing", (size, size, c), 0, 0),
        LayerRow("preprocess", "Dense (caffe preprocess)", (size, size, 3), 3 * c + 3, 0),
    ]
    channels = 3
    for b, filters in enumerate(VGG16_BLOCKS, start=1):
        for i, f in enumerate(filters, start=1):
            params = 9 * channels * f + f
            channels = f
            rows.append(LayerRow(f"block{b}_conv{i}", "Conv2D", (size, size, f), params, 0))
        size //= 2
        rows.append(LayerRow(f"block{b}_pool", "MaxPooling2D", (size, size, channels), 0, 0))
    if vgg.head == "gap":
        features = channels
        rows.append(LayerRow("head_pool", "GlobalAveragePooling2D", (features,), 0, 0))
    else:
        features = size * size * channels
        rows.append(LayerRow("head_flatten", "Flatten", (features,), 0, 0))
    params = features * vgg.dense_units + vgg.dense_units
    rows.append(LayerRow("head_dense", "Dense", (vgg.dense_units,), params, params))
    rows.append(LayerRow("head_dropout", "Dropout", (vgg.dense_units,), 0, 0))
    params = vgg.dense_units * num_classes + num_classes
    rows.append(LayerRow("predictions", "Dense (softmax)", (num_classes,), params, params))
    return rows


@dataclass(frozen=True)
class PhaseParameters:
    """One training phase's parameter counts."""

    phase: str  # PHASE_HEAD or PHASE_FINE_TUNE
    total: int
    trainable: int


def phase_parameters(
    spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int
) -> list[PhaseParameters]:
    """Parameters total / trainable in each phase the spec trains (one or two)."""
    rows = describe_vgg16(spec, input_shape, num_classes)
    total = sum(r.params for r in rows)
    phases = [PhaseParameters(PHASE_HEAD, total, sum(r.trainable for r in rows))]
    if spec.vgg16.fine_tune:
        block5 = sum(r.params for r in rows if r.name.startswith(FINE_TUNE_BLOCK))
        phases.append(PhaseParameters(PHASE_FINE_TUNE, total, phases[0].trainable + block5))
    return phases
