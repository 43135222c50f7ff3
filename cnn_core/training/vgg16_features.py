"""VGG16's frozen layers computed once: cached features and batches read from them.

Without augmentation a frozen VGG16 base maps each image to the same outputs every
epoch, so they are computed once per image (`cnn_core.training.feature_cache`) and
the layers above them train on those: the head alone on block5_pool's outputs,
block5 and the head on block4_pool's (`CACHED_LAYER`). `vgg16_phases` decides when
a run trains this way.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from cnn_core.base.digests import array_digest
from cnn_core.base.tf_runtime import import_keras
from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD
from cnn_core.models.vgg16_build import weights_digest
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder
from cnn_core.training import feature_cache
from cnn_core.training.plan import StoppedBeforeTraining, phase_settings

# The layer whose cached outputs each phase trains on.
CACHED_LAYER = {PHASE_HEAD: "block5_pool", PHASE_FINE_TUNE: "block4_pool"}
STATUS_INTERVAL_S = 0.5
STOPPED_WHILE_EXTRACTING = (
    "stopped by the user while the VGG16 features were being computed; nothing was trained"
)


class ExtractionStopped(StoppedBeforeTraining):
    """Stop was pressed while the frozen layers' outputs were being computed."""


def feature_batches(features: np.ndarray, labels: np.ndarray, batch: int, seed: int | None) -> Any:
    """A Keras PyDataset over cached features: float32 batches read from the memory map.

    Args:
        features: float16 (n, ...) cached outputs (memory-mapped).
        labels: int (n,).
        batch: batch size.
        seed: shuffle each epoch with this seed; None keeps the order (validation).
    """
    keras = import_keras()

    class FeatureBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(labels))
            self.on_epoch_end()

        def __len__(self) -> int:
            return math.ceil(len(labels) / batch)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            rows = np.sort(self.order[index * batch : (index + 1) * batch])
            return features[rows].astype(np.float32), labels[rows]

        def on_epoch_end(self) -> None:
            if seed is not None:
                self.rng.shuffle(self.order)

    return FeatureBatches()


def cached_features(
    model: Any, config: TrainConfig, splits: dict[str, np.ndarray], folder: RunFolder
) -> dict[str, dict[str, np.ndarray]] | None:
    """The frozen layers' outputs for every split, from the cache or computed once now.

    Returns:
        {split: {layer: float16 (n, ...) memory map}}, or None when an entry would
        exceed the cache's cap (the run then trains the whole network).

    Raises:
        ExtractionStopped: the user pressed Stop; the split being computed leaves
            no cache entry (those of splits already done stay).
    """
    keras = import_keras()
    layers = [CACHED_LAYER[phase] for phase, _ in phase_settings(config)]
    shapes = [tuple(model.get_layer(name).output.shape[1:]) for name in layers]
    if not feature_cache.fits(
        sum(feature_cache.entry_bytes(len(x), s) for x in splits.values() for s in shapes)
    ):
        return None
    digests = {name: weights_digest(model, name) for name in layers}
    extractor = keras.Model(model.input, [model.get_layer(name).output for name in layers])
    out: dict[str, dict[str, np.ndarray]] = {}
    for split, images in splits.items():
        image_digest = array_digest(images)
        keys = [
            feature_cache.CacheKey(
                config.dataset,
                split,
                config.seed,
                config.model.vgg16.input_size,
                digests[name],
                name,
                image_digest,
            )
            for name in layers
        ]
        found = {key.layer: feature_cache.load(key) for key in keys}
        missing = [i for i, key in enumerate(keys) if found[key.layer] is None]
        if missing:
            report = _extraction_reporter(folder, split)

            def extract(batch: np.ndarray, picked: list[int] = missing) -> list[np.ndarray]:
                outputs = extractor.predict_on_batch(batch)
                return [np.asarray(outputs[i]) for i in picked]

            computed = feature_cache.compute(
                [keys[i] for i in missing], [shapes[i] for i in missing], images, extract, report
            )
            for i, array in zip(missing, computed, strict=True):
                found[layers[i]] = array
        out[split] = found  # type: ignore[assignment]
    folder.write_status(RunState.RUNNING, message="", heartbeat=time.time())
    return out


def _extraction_reporter(folder: RunFolder, split: str) -> Any:
    """A progress callback that writes 'Computing VGG16 features once ...' and honours Stop."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        if folder.stop_requested():
            raise ExtractionStopped(STOPPED_WHILE_EXTRACTING)
        now = time.perf_counter()
        if now - last[0] >= STATUS_INTERVAL_S or done == total:
            last[0] = now
            folder.write_status(
                RunState.RUNNING,
                heartbeat=time.time(),
                message=f"Computing VGG16 features once ({split}): {done:,} / {total:,} images",
            )

    return report
