"""Models: the layer plan of a spec (pure Python) and the Keras model built from it.

`describe_model` computes every layer's output shape and parameter count
without TensorFlow, so the Train page shows the summary instantly; a test
checks it against the real Keras model. Models take raw pixel values in
[0, 255] (float32, NHWC) and rescale inside (`Rescaling(1/255)`), so inference
sees exactly the training normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnn_core.base.errors import UserError
from cnn_core.data.augment import apply_augmentation, layer_plan
from cnn_core.schema.config import AugmentSpec, ModelSpec, OptimizerSpec

if TYPE_CHECKING:
    import keras

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
    """The layer plan of `spec`, matching `build_model` layer for layer.

    Assumes `spec` passed `config.validate_model` for this input shape.
    """
    if spec.kind == "vgg16":
        from cnn_core.models.vgg16 import describe_vgg16  # it imports LayerRow from here

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


BN_MOMENTUM = 0.9


def build_model(
    spec: ModelSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int = 0,
    augment: AugmentSpec | None = None,
) -> keras.Model:
    """Build the (uncompiled) Keras model of `spec`, named as `describe_model` says.

    `augment` adds random preprocessing layers after the input (active in training only).
    """
    if spec.kind == "vgg16":
        from cnn_core.models.vgg16 import build_vgg16  # it imports LayerRow from here

        return build_vgg16(spec, input_shape, num_classes, seed, augment)
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(apply_augmentation(inputs, augment, seed))
    for i, block in enumerate(spec.conv_blocks if spec.kind == "cnn" else (), start=1):
        x = layers.Conv2D(
            block.filters,
            block.kernel_size,
            padding=block.padding,
            activation=block.activation,
            name=f"conv{i}",
        )(x)
        if block.batch_norm:
            # Momentum 0.9 (PyTorch's 0.1): the moving statistics the model uses at
            # test time settle within a short run; Keras' 0.99 needs ~500 batches,
            # and a 2-epoch run on 4,500 images then scored 30% on its test set.
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        if block.pool:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for j, dense in enumerate(spec.dense_layers if spec.kind == "cnn" else (), start=1):
        x = layers.Dense(dense.units, activation="relu", name=f"dense{j}")(x)
        if dense.dropout > 0:
            x = layers.Dropout(dense.dropout, seed=seed, name=f"dropout{j}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=spec.kind)


def make_optimizer(spec: OptimizerSpec, decay_steps: int = 0) -> Any:
    """The Keras optimizer for a validated config's optimizer settings.

    Args:
        spec: the optimizer, its learning rate and (for SGD) momentum.
        decay_steps: > 0 decays the rate along a cosine from `spec.learning_rate`
            to 0 over that many batches (the "cosine" schedule); 0 keeps it constant.
    """
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    rate: Any = spec.learning_rate
    if decay_steps > 0:
        rate = keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps)
    if spec.name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=spec.momentum)
    if spec.name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate)
    return keras.optimizers.Adam(learning_rate=rate)


def load_trained_model(path: Path) -> keras.Model:
    """Load a run's `model.keras` for inference.

    Raises:
        UserError: the file is missing or is not a loadable Keras model.
    """
    from cnn_core.base.tf_runtime import import_keras

    if not path.is_file():
        raise UserError(f"this run has no saved model ({path.name} is missing)")
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - zip, h5 and deserialisation errors vary
        raise UserError(
            f"the model file {path} is damaged and cannot be loaded ({error})"
        ) from error
