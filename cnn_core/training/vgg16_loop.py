"""Training a pretrained-VGG16 run: the head phase, then optionally block5 fine-tuning.

Both phases are one run: one history (each epoch records its phase), one
saved `.keras` model. Without augmentation the frozen layers' outputs are
computed once per image (`cnn_core.training.feature_cache`) and the layers above them
train on those: the head alone on block5_pool's outputs, block5 and the head
on block4_pool's. With augmentation (or `cache_features` off, or an entry
larger than the cache's cap) the whole network runs every epoch.

Called by `cnn_core.training.loop.train_run` after the data split; imports TensorFlow.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from cnn_core.base.digests import array_digest
from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.registry import Dataset, class_counts
from cnn_core.models.cnn import build_model, load_trained_model
from cnn_core.models.evaluate import evaluate_model
from cnn_core.models.plan import phase_parameters
from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD, uses_feature_cache
from cnn_core.models.vgg16_build import set_phase, tail_model, weights_digest
from cnn_core.models.vgg16_estimate import estimate_seconds
from cnn_core.models.vgg16_weights import weights_source
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder
from cnn_core.training import feature_cache
from cnn_core.training.distribute import Placement
from cnn_core.training.loop import (
    announce_stop_step,
    compile_for_run,
    finish_run,
    make_recorder,
    training_callbacks,
)

# The layer whose cached outputs each phase trains on.
CACHED_LAYER = {PHASE_HEAD: "block5_pool", PHASE_FINE_TUNE: "block4_pool"}
STATUS_INTERVAL_S = 0.5
STOPPED_WHILE_EXTRACTING = (
    "stopped by the user while the VGG16 features were being computed; nothing was trained"
)


class ExtractionStopped(Exception):
    """Stop was pressed while the frozen layers' outputs were being computed."""


def phase_configs(config: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """Each phase with the settings it trains under.

    The fine-tuning phase runs `fine_tune_epochs` at `fine_tune_learning_rate`
    with the same optimizer, schedule and early stopping as the head phase.
    """
    phases = [(PHASE_HEAD, config)]
    vgg = config.model.vgg16
    if vgg.fine_tune:
        optimizer = replace(config.optimizer, learning_rate=vgg.fine_tune_learning_rate)
        fit = replace(config.fit, epochs=vgg.fine_tune_epochs)
        phases.append((PHASE_FINE_TUNE, replace(config, optimizer=optimizer, fit=fit)))
    return phases


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
    layers = [CACHED_LAYER[phase] for phase, _ in phase_configs(config)]
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


def phase_epoch_costs(
    config: TrainConfig,
    image_shape: tuple[int, int, int],
    num_classes: int,
    n_images: int,
    features: dict | None,
) -> dict[str, float]:
    """Each phase's estimated seconds per epoch ({phase: s}), as this run trains it.

    From `transfer.estimate_seconds`, with the cache off when the run trains the
    whole network (`features` None). Only their ratio is used: the recorder
    weighs the fine-tuning epochs still ahead by it during the head phase.
    """
    if features is None:
        vgg = replace(config.model.vgg16, cache_features=False)
        config = replace(config, model=replace(config.model, vgg16=vgg))
    estimate = estimate_seconds(config, image_shape, num_classes, n_images)
    return {phase: estimate[phase] for phase, _ in phase_configs(config)}


def train_vgg16(
    folder: RunFolder,
    config: TrainConfig,
    dataset: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    placement: Placement,
) -> RunState:
    """Train both phases, evaluate on the test set, save; return the final state.

    `train_idx` and `val_idx` pick the split's images from `dataset.x_train`;
    with the cache, those copies are let go once the features are computed
    (about 150 MB for CIFAR-10's 45,000 training images).

    The model (and each phase's tail) is built and compiled in `placement`'s
    scope, and the config's batch size is per replica, as for any run. Stop
    during the feature extraction ends the run as stopped with nothing
    trained: no model, no evaluation.

    Raises:
        UserError: weights missing or unusable (the worker records the message).
    """
    info = dataset.info
    x_train, y_train = dataset.x_train[train_idx], dataset.y_train[train_idx]
    x_val, y_val = dataset.x_train[val_idx], dataset.y_train[val_idx]
    with placement.scope():
        model = build_model(
            config.model, info.image_shape, len(info.class_names), config.seed, config.augment
        )
    phases = phase_parameters(config.model, info.image_shape, len(info.class_names))
    folder.write_status(
        RunState.RUNNING,
        n_train=len(y_train),
        n_val=len(y_val),
        train_class_counts=class_counts(y_train, len(info.class_names)).tolist(),
        train_started=time.time(),
        phase_parameters={p.phase: [p.total, p.trainable] for p in phases},
        weights_source=weights_source(config.model.vgg16),
        strategy=placement.name,
        devices=list(placement.devices),
        replicas=placement.replicas,
    )
    start = time.perf_counter()
    features = None
    if uses_feature_cache(config):
        splits = {"train": x_train, "val": x_val, "test": dataset.x_test}
        try:
            features = cached_features(model, config, splits, folder)
        except ExtractionStopped as stop:
            folder.write_status(RunState.STOPPED, ended=time.time(), message=str(stop))
            return RunState.STOPPED
        if features is not None:  # training reads the memory maps, not the images
            del splits
            x_train = x_val = None
    n_images = len(y_train) + len(y_val)
    costs = phase_epoch_costs(config, info.image_shape, len(info.class_names), n_images, features)
    done, stopped = 0, False
    plan = phase_configs(config)
    fits_start = time.perf_counter()
    for index, (phase, phase_config) in enumerate(plan):
        set_phase(model, phase)
        fit = phase_config.fit
        global_batch = fit.batch_size * placement.replicas
        batches = math.ceil(len(y_train) / global_batch)
        if features is not None:  # the layers above the cached ones
            layer = CACHED_LAYER[phase]
            data = feature_batches(features["train"][layer], y_train, global_batch, config.seed)
            val_data = feature_batches(features["val"][layer], y_val, global_batch, None)
            fit_args: dict[str, Any] = {"x": data, "validation_data": val_data}
        else:  # the whole chain
            layer = model.layers[0].name
            fit_args = {
                "x": x_train,
                "y": y_train,
                "validation_data": (x_val, y_val),
                "batch_size": global_batch,
            }
        with placement.scope():  # block5, when it trains, as patches (cnn_core.models.patch_conv)
            fit_model = tail_model(model, layer, patch_trainable=True)
            compile_for_run(fit_model, phase_config, batches)
        later = plan[index + 1 :]  # the fine-tuning phase while the head trains, else none
        later_epochs = sum(c.fit.epochs for _, c in later)
        recorder = make_recorder(
            folder,
            done + fit.epochs + later_epochs,
            batches,
            phase,
            saved_model=model,
            later_epochs=later_epochs,
            later_cost=costs[later[0][0]] / costs[phase] if later else 1.0,
            started=fits_start,
        )
        history = fit_model.fit(
            **fit_args,
            initial_epoch=done,
            epochs=done + fit.epochs,
            callbacks=[recorder, *training_callbacks(phase_config, folder)],
            verbose=2,
        )
        done += len(history.epoch)
        if recorder.stopped:
            stopped = True
            break
    train_seconds = time.perf_counter() - start
    announce_stop_step(folder, stopped, "save")
    folder.save_model(model)
    if placement.strategy is not None:  # evaluate on one device (see train.train_run)
        model = load_trained_model(folder.model_path)
    announce_stop_step(folder, stopped, "evaluate")
    if features is not None:  # the last phase's layers on its cached test outputs
        test = features["test"][CACHED_LAYER[phase]]
        tail = tail_model(model, CACHED_LAYER[phase])
        evaluation, probs = evaluate_model(tail, test, dataset.y_test, info.class_names)
    else:
        evaluation, probs = evaluate_model(model, dataset.x_test, dataset.y_test, info.class_names)
    return finish_run(folder, evaluation, probs, dataset.y_test, train_seconds, stopped)
