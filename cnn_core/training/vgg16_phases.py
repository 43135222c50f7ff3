"""The phases of a pretrained-VGG16 run: the head, then optionally block5 fine-tuning.

Both phases are one run: one history (each epoch records its phase), one saved
`.keras` model (the whole network, saved after every epoch). With the feature
cache (`cnn_core.training.vgg16_features`) each phase fits only the layers above
its cached layer, on the cached outputs; with augmentation (or `cache_features`
off, or an entry larger than the cache's cap) it fits the whole network on images.
The one loop (`cnn_core.training.loop`) runs the phases built here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from cnn_core.data.registry import Dataset, DatasetInfo
from cnn_core.models.plan import phase_parameters
from cnn_core.models.vgg16 import uses_feature_cache
from cnn_core.models.vgg16_build import set_phase, tail_model
from cnn_core.models.vgg16_estimate import estimate_seconds
from cnn_core.models.vgg16_weights import weights_source
from cnn_core.schema.config import TrainConfig
from cnn_core.store.folder import RunFolder
from cnn_core.training.plan import Phase, phase_settings
from cnn_core.training.vgg16_features import CACHED_LAYER, cached_features, feature_batches

Features = dict[str, dict[str, np.ndarray]]  # {split: {layer: float16 (n, ...) memory map}}


def vgg16_status(config: TrainConfig, info: DatasetInfo) -> dict[str, Any]:
    """The status fields a VGG16 run adds when it starts: parameters per phase, weights."""
    phases = phase_parameters(config.model, info.image_shape, len(info.class_names))
    return {
        "phase_parameters": {p.phase: [p.total, p.trainable] for p in phases},
        "weights_source": weights_source(config.model.vgg16),
    }


def vgg16_phases(
    folder: RunFolder,
    model: Any,
    config: TrainConfig,
    dataset: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
) -> list[Phase]:
    """The run's phases, computing the cached features first when the run uses them.

    `train_idx` and `val_idx` pick the split's images from `dataset.x_train`; with
    the cache, those copies are let go once the features are computed (about 150 MB
    for CIFAR-10's 45,000 training images): only the whole-network phases keep them.

    Raises:
        ExtractionStopped: the user pressed Stop while the features were computed.
    """
    info = dataset.info
    x_train, y_train = dataset.x_train[train_idx], dataset.y_train[train_idx]
    x_val, y_val = dataset.x_train[val_idx], dataset.y_train[val_idx]
    features = None
    if uses_feature_cache(config):
        splits = {"train": x_train, "val": x_val, "test": dataset.x_test}
        features = cached_features(model, config, splits, folder)
    n_images = len(y_train) + len(y_val)
    costs = phase_epoch_costs(config, info.image_shape, len(info.class_names), n_images, features)
    if features is not None:
        return [
            _cached_phase(model, name, settings, features, y_train, y_val, costs[name])
            for name, settings in phase_settings(config)
        ]
    train, val = (x_train, y_train), (x_val, y_val)
    return [
        _whole_phase(model, name, settings, train, val, dataset.x_test, costs[name])
        for name, settings in phase_settings(config)
    ]


def _cached_phase(
    model: Any,
    name: str,
    config: TrainConfig,
    features: Features,
    y_train: np.ndarray,
    y_val: np.ndarray,
    cost: float,
) -> Phase:
    """A phase that fits the layers above its cached layer on the cached outputs."""
    layer = CACHED_LAYER[name]

    def fit_model() -> Any:
        set_phase(model, name)  # block5, when it trains, as patches (cnn_core.models.patch_conv)
        return tail_model(model, layer, patch_trainable=True)

    def fit_data(batch: int) -> dict[str, Any]:
        return {
            "x": feature_batches(features["train"][layer], y_train, batch, config.seed),
            "validation_data": feature_batches(features["val"][layer], y_val, batch, None),
        }

    def test_data(trained: Any) -> tuple[Any, Any]:  # the same layers, on the test outputs
        return tail_model(trained, layer), features["test"][layer]

    return Phase(name, config, fit_model, fit_data, test_data, cost)


def _whole_phase(
    model: Any,
    name: str,
    config: TrainConfig,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    x_test: np.ndarray,
    cost: float,
) -> Phase:
    """A phase that fits the whole chain on the images ((x, y) of each split)."""

    def fit_model() -> Any:
        set_phase(model, name)
        return tail_model(model, model.layers[0].name, patch_trainable=True)

    def fit_data(batch: int) -> dict[str, Any]:
        return {"x": train[0], "y": train[1], "validation_data": val, "batch_size": batch}

    def test_data(trained: Any) -> tuple[Any, Any]:
        return trained, x_test

    return Phase(name, config, fit_model, fit_data, test_data, cost)


def phase_epoch_costs(
    config: TrainConfig,
    image_shape: tuple[int, int, int],
    num_classes: int,
    n_images: int,
    features: dict | None,
) -> dict[str, float]:
    """Each phase's estimated seconds per epoch ({phase: s}), as this run trains it.

    From `cnn_core.models.vgg16.estimate_seconds`, with the cache off when the run
    trains the whole network (`features` None). Only their ratio is used: the
    recorder weighs the fine-tuning epochs still ahead by it during the head phase.
    """
    if features is None:
        vgg = replace(config.model.vgg16, cache_features=False)
        config = replace(config, model=replace(config.model, vgg16=vgg))
    estimate = estimate_seconds(config, image_shape, num_classes, n_images)
    return {name: estimate[name] for name, _ in phase_settings(config) if name is not None}
