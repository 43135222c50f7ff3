"""A small CNN trained a little on the synthetic Fashion-MNIST look-alike, for novelty tests."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec, TrainConfig
from scripts.synthetic_data import synthetic_images
from tests.run_factory import make_run

TINY_CNN = ModelSpec(
    kind="cnn", conv_blocks=(ConvBlock(filters=8),), dense_layers=(DenseLayer(units=32),)
)
FASHION_SEED = 2  # scripts.synthetic_data.write_all: the fashion-mnist look-alike's seed


def fashion_like() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The conftest Fashion-MNIST look-alike: x_train, y_train, x_test, y_test (uint8 NHWC)."""
    x_train, y_train = synthetic_images(600, seed=FASHION_SEED)
    x_test, y_test = synthetic_images(200, seed=FASHION_SEED + 1)
    return x_train, y_train, x_test, y_test


def train_tiny_model(path: Path) -> Path:
    """Train TINY_CNN for 3 epochs on the look-alike and save it to `path` (.keras)."""
    from cnn_core.base.tf_runtime import import_keras
    from cnn_core.models.cnn import build_model

    keras = import_keras()
    keras.utils.set_random_seed(0)
    x_train, y_train, _, _ = fashion_like()
    model = build_model(TINY_CNN, (28, 28, 1), 10, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train.astype("float32"), y_train, epochs=3, batch_size=32, verbose=0)
    model.save(path)
    return path


def fashion_run(model_file: Path, name: str = "clothes") -> Path:
    """A completed Fashion-MNIST run in the test's store holding a copy of `model_file`."""
    folder = make_run(TrainConfig(dataset="fashion_mnist", model=TINY_CNN, name=name))
    shutil.copyfile(model_file, folder.model_path)
    return folder.path


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (h, w) or (h, w, 3) array."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(pixels: np.ndarray) -> bytes:
    """JPEG bytes (quality 90) of a uint8 (h, w, 3) array, like a webcam photo."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def noise_image(size: int = 28, seed: int = 0) -> np.ndarray:
    """uint8 (size, size) uniform noise over the whole 0-255 range: nothing like the data."""
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
