"""Is an untrusted model file one CNN Studio built? Checked before it is ever loaded.

A bundle's model must be a `.keras` zip (never HDF5, whose loader ignores safe
mode) whose every serialized object is a Keras class CNN Studio builds (no
Lambda, no custom or foreign modules); only then is it loaded, with Keras'
`safe_mode=True`, from a temporary file outside the run store, and its input
and output checked against the run's dataset.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.registry import DatasetInfo
from cnn_core.models.cnn import SMOOTHED_LOSS_NAME

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# What a CNN Studio model may contain (`cnn_core.models.cnn.build_model`, with its
# augmentation layers from `cnn_core.data.augment` and VGG16's resizing and pooling
# from `cnn_core.models.vgg16_build`): every serialized object in its .keras config
# names one of these (module, class). Keras' own layers only: none runs code of its
# file's choosing. `tests/test_model_check.py` builds every kind and checks the list.
MODEL_LAYERS = frozenset(
    {
        "InputLayer",
        "Rescaling",
        "Resizing",
        "Conv2D",
        "BatchNormalization",
        "MaxPooling2D",
        "GlobalAveragePooling2D",
        "Flatten",
        "Dense",
        "Dropout",
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
    }
)
# The one function a model's compile settings may name: label smoothing's loss
# (`cnn_core.models.cnn.make_loss`). Loading never compiles, so it is never looked up.
SMOOTHED_LOSS = {
    "module": "builtins",
    "class_name": "function",
    "config": SMOOTHED_LOSS_NAME,
    "registered_name": "function",
}
ALLOWED_OBJECTS = {
    "keras.layers": MODEL_LAYERS,
    "keras.src.models.functional": frozenset({"Functional"}),
    "keras": frozenset({"DTypePolicy", "FloatDTypePolicy"}),
    "keras.initializers": frozenset({"GlorotUniform", "Zeros", "Ones"}),
    # the compile settings a trained model keeps (`cnn_core.training.loop.compile_for_run`)
    "keras.optimizers": frozenset({"Adam", "SGD", "RMSprop"}),
    "keras.optimizers.schedules": frozenset({"CosineDecay"}),
    None: frozenset({"__keras_tensor__"}),  # a functional model's links between layers
}


def model_objects(config: Any) -> list[tuple[Any, Any]]:
    """(module, class_name) of every serialized object in a .keras model config."""
    found = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item == SMOOTHED_LOSS:
                continue
            if "class_name" in item:
                found.append((item.get("module"), item.get("class_name")))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def check_model(content: bytes, name: str, info: DatasetInfo) -> None:
    """Refuse a model file that is not a CNN Studio .keras model, then load it safely.

    Args:
        content: the model file's bytes, untrusted.
        name: its entry name in the bundle (a `.keras` name; messages cite it).
        info: the run's dataset, whose image shape and classes the model must fit.

    Raises:
        UserError: HDF5 or another non-zip, objects outside ALLOWED_OBJECTS (Lambda,
            custom layers, foreign modules), a model Keras refuses in safe mode, or
            one whose input or output does not fit the run's dataset.
    """
    if content.startswith(HDF5_MAGIC):
        raise UserError(
            f"{name} in the bundle is an HDF5 model: only .keras models are accepted, "
            "since the HDF5 loader ignores Keras' safe mode"
        )
    if not content.startswith(ZIP_MAGIC):
        raise UserError(f"{name} in the bundle is not a .keras model file")
    for module, class_name in _archive_objects(content):
        if class_name not in ALLOWED_OBJECTS.get(module, ()):
            raise UserError(
                f"{name} in the bundle contains {class_name!r} from {module!r}, which CNN "
                "Studio never builds (only its own Keras layers are accepted): refused"
            )
    _load_safely(content, name, info)


def _archive_objects(content: bytes) -> list[tuple[Any, Any]]:
    """The serialized objects named by every JSON file inside a .keras zip."""
    objects: list[tuple[Any, Any]] = []
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
            if len(infos) > 8:
                raise UserError("the model file holds more files than a .keras model does")
            for info in infos:
                if info.is_dir() or "/" in info.filename or ".." in info.filename:
                    raise UserError(f"the model file holds an unexpected path {info.filename!r}")
                if info.filename.endswith(".json"):
                    record = json.loads(archive.read(info).decode("utf-8"))
                    objects += model_objects(record)
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, OSError) as error:
        raise UserError(f"the model file in the bundle is damaged ({error})") from error
    if not any(class_name == "Functional" for _, class_name in objects):
        raise UserError("the model file in the bundle holds no model configuration")
    return objects


def _load_safely(content: bytes, name: str, info: DatasetInfo) -> None:
    """Load the model with `safe_mode=True` from a temporary file; check its shapes."""
    keras = import_keras()
    with tempfile.TemporaryDirectory(prefix="cnn-bundle-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as error:  # noqa: BLE001 - deserialisation errors vary
            raise UserError(f"the model in the bundle does not load safely ({error})") from error
    kinds = {type(layer).__name__ for layer in model.layers} - MODEL_LAYERS
    if kinds:
        raise UserError(f"the model in the bundle has layers CNN Studio never builds: {kinds}")
    expected_in = (None, *info.image_shape)
    expected_out = (None, len(info.class_names))
    if tuple(model.input_shape) != expected_in or tuple(model.output_shape) != expected_out:
        raise UserError(
            f"the model in the bundle takes {model.input_shape} and gives {model.output_shape}, "
            f"which does not fit {info.title} ({expected_in} to {expected_out})"
        )
