"""Models in Keras: build a spec's model, make its optimizer, load a trained one.

The layer names follow `plan.describe_model` (the pure-Python layer table a test
checks against the built model). Models take raw pixel values in [0, 255]
(float32, NHWC) and rescale inside (`Rescaling(1/255)`), so inference sees
exactly the training normalisation. Keras is imported inside the functions
(`import_keras`), never when this module is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.augment import apply_augmentation
from cnn_core.models.vgg16_build import build_vgg16
from cnn_core.schema.config import AugmentSpec, ModelSpec, OptimizerSpec

if TYPE_CHECKING:
    import keras

BN_MOMENTUM = 0.9
SMOOTHED_LOSS_NAME = "smoothed_crossentropy"  # the name Keras saves for `make_loss`'s loss


def build_model(
    spec: ModelSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int = 0,
    augment: AugmentSpec | None = None,
) -> keras.Model:
    """Build the (uncompiled) Keras model of `spec`, named as `plan.describe_model` says.

    `augment` adds random preprocessing layers after the input (active in training only).
    """
    if spec.kind == "vgg16":
        return build_vgg16(spec, input_shape, num_classes, seed, augment)
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
    # float32 whatever the policy: under mixed precision softmax and the loss keep full precision
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(
        x
    )
    return keras.Model(inputs, outputs, name=spec.kind)


def make_optimizer(spec: OptimizerSpec, decay_steps: int = 0) -> Any:
    """The Keras optimizer for a validated config's optimizer settings.

    Args:
        spec: the optimizer, its learning rate, (for SGD) momentum, and gradient
            clipping (`clipnorm` > 0 rescales each gradient to at most that norm).
        decay_steps: > 0 decays the rate along a cosine from `spec.learning_rate`
            to 0 over that many batches (the "cosine" schedule); 0 keeps it constant.
    """
    keras = import_keras()
    rate: Any = spec.learning_rate
    if decay_steps > 0:
        rate = keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps)
    clip = {"clipnorm": spec.clipnorm} if spec.clipnorm > 0 else {}  # Keras: None = off
    if spec.name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=spec.momentum, **clip)
    if spec.name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate, **clip)
    return keras.optimizers.Adam(learning_rate=rate, **clip)


def make_loss(label_smoothing: float, num_classes: int) -> Any:
    """The training loss for integer labels: Keras' sparse cross-entropy, or with
    `label_smoothing` > 0 the cross-entropy against smoothed targets (the true class
    1 - s + s/k, every other s/k, for k = `num_classes`). Keras' sparse loss has no
    smoothing, so the labels become one-hot inside the loss: the data stays integer
    labels, as the accuracy metric and every other reader expect."""
    if label_smoothing <= 0:
        return "sparse_categorical_crossentropy"
    keras = import_keras()
    ops = keras.ops

    def smoothed_crossentropy(y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        targets = ops.one_hot(labels, num_classes)
        return keras.losses.categorical_crossentropy(
            targets, y_pred, label_smoothing=label_smoothing
        )

    smoothed_crossentropy.__name__ = SMOOTHED_LOSS_NAME  # the same name, should either change
    return smoothed_crossentropy


def load_trained_model(path: Path) -> keras.Model:
    """Load a run's `model.keras` for inference.

    Raises:
        UserError: the file is missing or is not a loadable Keras model.
    """
    if not path.is_file():
        raise UserError(f"this run has no saved model ({path.name} is missing)")
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - zip, h5 and deserialisation errors vary
        raise UserError(
            f"the model file {path} is damaged and cannot be loaded ({error})"
        ) from error
