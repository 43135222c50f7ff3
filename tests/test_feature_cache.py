"""The frozen-part cache: same predictions as the full network, reuse, cap, clearing,
and a two-phase VGG16 run that records both phases in one history."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD, vgg16_spec
from cnn_core.models.vgg16_build import set_phase, tail_model
from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.store.folder import create_run
from cnn_core.training import feature_cache

RGB = (32, 32, 3)


@pytest.fixture(scope="module")
def model():
    from cnn_core.models.vgg16_build import build_vgg16

    return build_vgg16(vgg16_spec("fine_tune", 32, weights="none"), RGB, 5, seed=2)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *RGB), dtype=np.uint8)


def vgg_config(**fit: object) -> TrainConfig:
    return TrainConfig(
        dataset="cifar10",
        model=vgg16_spec("fine_tune", 32, weights="none", fine_tune_epochs=1, dense_units=32),
        optimizer=OptimizerSpec(learning_rate=1e-3, schedule="constant"),
        fit=FitSpec(batch_size=32, epochs=2, early_stopping=False, **fit),
        validation=40,
        seed=4,
    )


def test_cached_and_uncached_paths_predict_the_same(model, tmp_path) -> None:
    from cnn_core.store.folder import RunFolder
    from cnn_core.training.vgg16_features import cached_features

    x = images(12)
    folder = RunFolder(tmp_path)
    features = cached_features(model, vgg_config(), {"train": x}, folder)["train"]
    assert features["block5_pool"].dtype == np.float16
    assert isinstance(features["block4_pool"], np.memmap)
    full = np.asarray(model(x.astype(np.float32), training=False))
    for layer, phase in (("block5_pool", PHASE_HEAD), ("block4_pool", PHASE_FINE_TUNE)):
        set_phase(model, phase)
        tail = tail_model(model, layer)
        cached = np.asarray(tail(features[layer].astype(np.float32), training=False))
        assert cached.shape == full.shape == (12, 5)
        np.testing.assert_allclose(cached, full, atol=2e-3)
        assert np.abs(full - full.mean(axis=0)).max() > 1e-3  # predictions differ per image
    set_phase(model, PHASE_HEAD)


def test_a_second_run_reuses_the_cache_and_other_images_do_not(model, tmp_path) -> None:
    from cnn_core.store.folder import RunFolder
    from cnn_core.training.vgg16_features import cached_features

    folder, config = RunFolder(tmp_path), vgg_config()
    first = cached_features(model, config, {"train": images(6)}, folder)["train"]
    names = {e.name for e in feature_cache.entries()}
    assert len(names) == 2  # block4_pool and block5_pool
    again = cached_features(model, config, {"train": images(6)}, folder)["train"]
    assert {e.name for e in feature_cache.entries()} == names
    np.testing.assert_array_equal(again["block5_pool"], first["block5_pool"])
    cached_features(model, config, {"train": images(6, seed=1)}, folder)
    assert len(feature_cache.entries()) == 4
    entry = feature_cache.entries()[0]
    assert entry.nbytes >= feature_cache.entry_bytes(6, (1, 1, 512))
    assert feature_cache.total_bytes() >= sum(e.nbytes for e in feature_cache.entries())
    assert feature_cache.clear() > 0
    assert feature_cache.entries() == [] and feature_cache.total_bytes() == 0


def test_the_cap_evicts_least_recently_used_entries(monkeypatch) -> None:
    def store(split: str, n: int) -> feature_cache.CacheKey:
        key = feature_cache.CacheKey("cifar10", split, 0, 32, "w", "block5_pool", split)
        feature_cache.compute([key], [(4,)], images(n), lambda b: [b[:, 0, 0, :1].repeat(4, 1)])
        return key

    first = store("a", 100)
    size = feature_cache.entries()[0].nbytes  # 100 x 4 float16 and the .npy header
    monkeypatch.setenv("CNN_FEATURE_CACHE_GB", str(3.5 * size / 1e9))  # room for three
    second, third = store("b", 100), store("c", 100)
    assert feature_cache.load(first) is not None  # used: now the most recent
    store("d", 100)
    assert feature_cache.load(second) is None
    assert all(feature_cache.load(k) is not None for k in (first, third))
    assert not feature_cache.fits(feature_cache.entry_bytes(1000, (4,)))
    np.testing.assert_array_equal(
        feature_cache.load(third)[:, 0], images(100)[:, 0, 0, 0].astype(np.float16)
    )


@pytest.mark.slow
def test_a_two_phase_run_records_both_phases_in_one_history() -> None:
    from cnn_core.models.cnn import load_trained_model
    from cnn_core.training.loop import train_run

    folder = create_run(vgg_config())
    assert train_run(folder) == "completed"
    history = folder.read_history()
    assert [r.epoch for r in history] == [1, 2, 3]
    assert [r.phase for r in history] == [PHASE_HEAD, PHASE_HEAD, PHASE_FINE_TUNE]
    assert history[-1].learning_rate == pytest.approx(1e-5)
    assert history[0].learning_rate == pytest.approx(1e-3)
    line = json.loads(folder.metrics_path.read_text().splitlines()[-1])
    assert line["phase"] == PHASE_FINE_TUNE
    model = load_trained_model(folder.model_path)
    assert model.get_layer("block5_conv3") is not None and model.input_shape[1:] == RGB
    evaluation = folder.read_evaluation()
    probs, y_true = folder.read_predictions()
    # The stored test predictions (from cached block4 features) are the saved model's.
    from cnn_core.data.registry import load_dataset

    x_test = load_dataset("cifar10").x_test.astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x_test, training=False)), probs, atol=2e-3)
    assert evaluation.n == len(y_true) == len(x_test)
    status = folder.read_status()
    assert status.message == ""
    head, tuned = (status.phase_parameters[p] for p in (PHASE_HEAD, PHASE_FINE_TUNE))
    assert head[0] == tuned[0] == model.count_params()  # the same network in both phases
    block5 = sum(model.get_layer(f"block5_conv{i}").count_params() for i in (1, 2, 3))
    assert tuned[1] - head[1] == block5  # fine-tuning also trains block5
    assert len(feature_cache.entries()) == 6  # 2 layers x train, val, test


@pytest.mark.slow
def test_without_the_cache_the_whole_network_trains_and_nothing_is_cached() -> None:
    from dataclasses import replace

    from cnn_core.training.loop import train_run

    config = vgg_config()
    vgg = replace(config.model.vgg16, cache_features=False, fine_tune=False)
    config = replace(config, model=replace(config.model, vgg16=vgg))
    folder = create_run(replace(config, fit=replace(config.fit, epochs=1)))
    assert train_run(folder) == "completed"
    assert [r.phase for r in folder.read_history()] == [PHASE_HEAD]
    assert feature_cache.entries() == []
    assert folder.read_evaluation().n == 50


def test_fine_tuning_tails_train_block5_as_patches_with_the_same_outputs(model) -> None:
    set_phase(model, PHASE_FINE_TUNE)
    try:
        tail = tail_model(model, "block4_pool", patch_trainable=True)
        patched_names = [layer.name for layer in tail.layers if layer.name.endswith("_patches")]
        assert patched_names == [f"block5_conv{i}_patches" for i in (1, 2, 3)]
        features = model.get_layer("block4_pool").output
        import keras

        x = images(8).astype(np.float32)
        f = keras.Model(model.input, features)(x)
        np.testing.assert_allclose(
            np.asarray(tail(f)), np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-5
        )
        assert {id(v) for v in tail.trainable_variables} == {
            id(v) for v in model.trainable_variables
        }
    finally:
        set_phase(model, PHASE_HEAD)
