"""Pretrained VGG16: its settings, layer plan, Keras model, phases and weights.

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
unfreezes block5 (`set_phase`). Nothing here imports TensorFlow at module
import time.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnn_core.base.errors import UserError
from cnn_core.models.cnn import LayerRow
from cnn_core.models.patch_conv import MAX_PATCH_AREA
from cnn_core.schema.config import AugmentSpec, ModelSpec, TrainConfig, Vgg16Spec

if TYPE_CHECKING:
    import keras

# Keras' ImageNet weights without the classifier (keras.applications.VGG16, include_top=False).
WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + WEIGHTS_FILE
WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"  # the hash Keras checks
WEIGHTS_BYTES = 58_889_256  # 58.9 MB
# Caffe-mode preprocessing: BGR channel means of ImageNet, subtracted from 0-255 pixels.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
# VGG16's convolutional base: filters of each 3x3 conv, block by block; a 2x2
# max-pool ends every block.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
FINE_TUNE_BLOCK = "block5"  # unfrozen in the fine-tuning phase
PHASE_HEAD, PHASE_FINE_TUNE = "head", "fine-tune"
MODES = {"feature_extraction": "VGG16 feature extraction", "fine_tune": "VGG16 fine-tuned"}


# ----------------------------------------------------------------------------- settings


def vgg16_spec(
    mode: str,
    input_size: int = 32,
    weights: str = "imagenet",
    weights_file: str = "",
    **settings: Any,
) -> ModelSpec:
    """The ModelSpec of "VGG16 feature extraction" or "VGG16 fine-tuned".

    Args:
        mode: "feature_extraction" (head on the frozen base) or "fine_tune"
            (then block5 unfrozen at a low learning rate).
        input_size: the side images are resized to (>= 32; 48, 64, 96... are offered).
        weights: "imagenet", "file" (with `weights_file`) or "none".
        settings: any other `Vgg16Spec` field (head, dense_units, dropout...).

    Raises:
        ValueError: an unknown mode (a programming error).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    vgg = Vgg16Spec(
        input_size=input_size,
        weights=weights,
        weights_file=weights_file,
        fine_tune=mode == "fine_tune",
        **settings,
    )
    return ModelSpec(kind="vgg16", vgg16=vgg)


def vgg16_label(vgg: Vgg16Spec) -> str:
    """'VGG16 fine-tuned, 64 px'; random weights read 'VGG16 (not pretrained) ...', weights
    from a local file 'VGG16 feature extraction, 32 px (weights: my_vgg16.h5)'."""
    name = "VGG16" if vgg.weights != "none" else "VGG16 (not pretrained)"
    mode = "fine-tuned" if vgg.fine_tune else "feature extraction"
    label = f"{name} {mode}, {vgg.input_size} px"
    if vgg.weights == "file":
        label += f" (weights: {Path(vgg.weights_file).name or '?'})"
    return label


def weights_source(vgg: Vgg16Spec, digest_bytes: int = 6) -> str:
    """Where a run's VGG16 weights come from, for its status record and the Compare table.

    'ImageNet (Keras download)', 'none (random, not pretrained)', or for a local
    file 'my_vgg16.h5 · 58.9 MB · sha256 1a2b3c4d5e6f' (the digest of its bytes,
    so two runs from the same file can be told from runs from another).

    Raises:
        OSError: the local file cannot be read.
    """
    if vgg.weights == "imagenet":
        return "ImageNet (Keras download)"
    if vgg.weights != "file":
        return "none (random, not pretrained)"
    path = Path(vgg.weights_file).expanduser()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    size = path.stat().st_size
    return f"{path.name} · {size / 1e6:.1f} MB · sha256 {digest.hexdigest()[: 2 * digest_bytes]}"


# ----------------------------------------------------------------------------- layer plan


def describe_vgg16(spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int) -> list:
    """The layer plan of a vgg16 spec, matching `build_vgg16` layer for layer.

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


# ----------------------------------------------------------------------------- the model


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
    from cnn_core.base.tf_runtime import import_keras

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
    from cnn_core.data.augment import apply_augmentation

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
    from cnn_core.base.tf_runtime import import_keras
    from cnn_core.models.patch_conv import patched

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


# ----------------------------------------------------------------------------- weights


def keras_models_dir() -> Path:
    """Where Keras caches model weights: `$KERAS_HOME/models` (default ~/.keras/models)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def imagenet_weights_path() -> Path:
    """Where the ImageNet weights are (or will be, once downloaded)."""
    return keras_models_dir() / WEIGHTS_FILE


def offline_message() -> str:
    """What to do when the ImageNet weights cannot be downloaded."""
    return (
        f"The ImageNet weights are not downloaded. Download them here, or put Keras' file "
        f"{WEIGHTS_FILE} ({WEIGHTS_BYTES / 1e6:.1f} MB, from {WEIGHTS_URL}) in "
        f"{keras_models_dir()}/, or choose 'a local weights file' and give its path."
    )


def weights_problem(vgg: Vgg16Spec) -> str:
    """Why the chosen weights cannot be loaded now ('' when they can)."""
    if vgg.weights == "imagenet" and not imagenet_weights_path().is_file():
        return offline_message()
    if vgg.weights == "file":
        path = Path(vgg.weights_file).expanduser()
        if not path.is_file():
            return f"the VGG16 weights file {path} does not exist"
        if not path.name.endswith(".h5"):
            return f"the VGG16 weights file {path} is not a Keras .h5 weights file"
    return ""


def resolve_weights(vgg: Vgg16Spec) -> str | None:
    """The `weights` argument for keras.applications.VGG16: a file path, or None.

    ImageNet weights are loaded from Keras' cache by path, so a run never
    downloads inside the worker (the Train page downloads them first).

    Raises:
        UserError: the file is missing (the message says which file to put where).
    """
    problem = weights_problem(vgg)
    if problem:
        raise UserError(problem)
    if vgg.weights == "imagenet":
        return str(imagenet_weights_path())
    if vgg.weights == "file":
        return str(Path(vgg.weights_file).expanduser())
    return None


def download_imagenet_weights(
    on_progress: Callable[[int, int], None] | None = None, poll_s: float = 0.25
) -> Path:
    """Download the ImageNet weights through Keras (md5-checked), reporting progress.

    Keras' `get_file` runs in a thread; `on_progress(bytes_so_far, total_bytes)`
    is called from this thread every `poll_s` seconds while the file grows.

    Returns:
        The weights file's path.

    Raises:
        UserError: the download failed (offline, or a corrupt file).
    """
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    target = imagenet_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {}

    def fetch() -> None:
        try:
            outcome["path"] = keras.utils.get_file(
                WEIGHTS_FILE,
                WEIGHTS_URL,
                cache_dir=str(target.parent.parent),
                cache_subdir=target.parent.name,
                file_hash=WEIGHTS_MD5,
            )
        except Exception as error:  # noqa: BLE001 - urllib, hash and OS errors vary
            outcome["error"] = error

    thread = threading.Thread(target=fetch, name="vgg16-weights", daemon=True)
    thread.start()
    while thread.is_alive():
        if on_progress is not None:
            size = target.stat().st_size if target.exists() else 0
            on_progress(size, WEIGHTS_BYTES)
        thread.join(poll_s)
    if "error" in outcome:
        raise UserError(
            f"could not download {WEIGHTS_FILE} ({outcome['error']}). {offline_message()}"
        ) from outcome["error"]
    if on_progress is not None:
        on_progress(WEIGHTS_BYTES, WEIGHTS_BYTES)
    return Path(outcome["path"])


# ----------------------------------------------------------------------------- time estimates

# Calibrated on the 2-core machine of benchmarks/bench_vgg16_cache.py (quiet,
# 2026-12-01): the FLOPs per second VGG16's convolutions reach (150 images/s
# at 32 px in inference, a little slower inside a training step), and what
# block5's training step costs against its forward pass: about 4x when its
# small maps (up to 6x6, i.e. inputs up to 96 px) train as patches
# (`cnn_core.models.patch_conv`), 6x and more with the library's convolutions, whose
# weight gradient is inefficient on small maps; and the fixed cost of one
# training step (Python and graph overhead).
CONV_FLOPS_PER_S = 80e9
# Block5's forward + backward pass in block5 forward passes, {as patches: factor}.
BLOCK5_TRAIN_FACTOR = {True: 4.0, False: 6.0}
STEP_OVERHEAD_S = 0.004


def _conv_flops(rows: list[LayerRow], start: str | None = None) -> float:
    """Forward FLOPs (2 x multiply-adds) per image of the conv layers after `start`."""
    flops, counting, channels = 0.0, start is None, 3
    for row in rows:
        if row.kind == "Conv2D":
            h, w, filters = row.output_shape
            if counting:
                flops += 2.0 * h * w * 9 * channels * filters
            channels = filters
        if row.name == start:
            counting = True
    return flops


def estimate_seconds(
    config: TrainConfig,
    input_shape: tuple[int, int, int],
    num_classes: int,
    n_images: int,
    n_test: int = 0,
) -> dict[str, float]:
    """Estimated seconds on this machine, before launch.

    Args:
        n_images: the images one epoch reads (training plus validation).
        n_test: the test images; with the cache their features are computed once
            too (the run is evaluated on them), so they count in "features".

    Returns:
        {"features": the one-off feature extraction of all n_images + n_test images
         (0 without the cache), "head": one head-phase epoch, "fine-tune": one
         fine-tuning epoch (when planned)}.
    """
    vgg = config.model.vgg16
    rows = describe_vgg16(config.model, input_shape, num_classes)
    full = _conv_flops(rows)
    block5 = _conv_flops(rows, "block4_pool")
    steps = -(-n_images // config.fit.batch_size) * STEP_OVERHEAD_S
    cached = vgg.cache_features and not augmentation_on(config)
    extracted = n_images + n_test  # every split's features: train, validation, test
    estimate = {"features": extracted * full / CONV_FLOPS_PER_S if cached else 0.0}
    # Training: the frozen convs' forward pass unless cached, block5's training step.
    frozen = 0.0 if cached else full
    estimate[PHASE_HEAD] = steps + n_images * frozen / CONV_FLOPS_PER_S
    if vgg.fine_tune:
        frozen = 0.0 if cached else full - block5
        patches = (vgg.input_size // 16) ** 2 <= MAX_PATCH_AREA  # block5's map
        flops = frozen + BLOCK5_TRAIN_FACTOR[patches] * block5
        estimate[PHASE_FINE_TUNE] = steps + n_images * flops / CONV_FLOPS_PER_S
    return estimate


def augmentation_on(config: TrainConfig) -> bool:
    """Whether the config augments its images (then the cache cannot be used).

    Augmentation changes the frozen base's input every epoch, so its outputs
    cannot be computed once.
    """
    return config.augment.active


def uses_feature_cache(config: TrainConfig) -> bool:
    """Whether a vgg16 run trains on cached frozen-base outputs (else the full network)."""
    vgg = config.model.vgg16
    return bool(vgg and vgg.cache_features and not augmentation_on(config))


def with_weights(spec: ModelSpec, weights: str, weights_file: str = "") -> ModelSpec:
    """`spec` with other VGG16 weights (a helper for the Compare page's pairs)."""
    return replace(spec, vgg16=replace(spec.vgg16, weights=weights, weights_file=weights_file))
