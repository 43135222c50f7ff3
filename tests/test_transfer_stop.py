"""Stop while a VGG16 run computes its cached features: a stopped run with no model,
no evaluation and no partial cache entry, which every page shows without an error."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cnn_core.insight.labels import STATE_LABELS
from cnn_core.models.vgg16 import vgg16_spec
from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.runs import load_run
from cnn_core.training import feature_cache
from cnn_core.training.vgg16_features import STOPPED_WHILE_EXTRACTING
from tests.apptest_support import open_app, open_with_query, texts

SPLIT_BATCH = 8  # images per extraction batch in these tests (the val split has 40)


def vgg_config() -> TrainConfig:
    return TrainConfig(
        dataset="cifar10",
        model=vgg16_spec("fine_tune", 32, weights="none", fine_tune_epochs=1, dense_units=16),
        optimizer=OptimizerSpec(learning_rate=1e-3, schedule="constant"),
        fit=FitSpec(batch_size=32, epochs=1, early_stopping=False),
        validation=40,
        seed=4,
        name="stopped vgg",
    )


def cache_files() -> list[str]:
    folder = feature_cache.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def assert_stopped_without_model(folder: RunFolder) -> None:
    run = load_run(folder.path)
    assert run.state == RunState.STOPPED
    assert run.message == STOPPED_WHILE_EXTRACTING
    assert not run.has_model and not run.active
    assert folder.read_evaluation() is None
    assert folder.read_history() == []
    assert run.status.ended is not None


@pytest.mark.slow
def test_a_run_records_where_its_weights_came_from(tmp_path: Path) -> None:
    import hashlib
    from dataclasses import replace

    from cnn_core.base.tf_runtime import import_keras
    from cnn_core.training.loop import train_run

    keras = import_keras()
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "my_vgg16.weights.h5"
    source.save_weights(path)
    vgg = replace(vgg_config().model.vgg16, weights="file", weights_file=str(path))
    config = replace(vgg_config(), model=replace(vgg_config().model, vgg16=vgg))
    folder = create_run(config)
    folder.request_stop()  # the weights are recorded before the features are computed
    assert train_run(folder) == RunState.STOPPED
    recorded = load_run(folder.path).status.weights_source
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    size = f"{path.stat().st_size / 1e6:.1f} MB"
    assert recorded == f"my_vgg16.weights.h5 · {size} · sha256 {digest}"


@pytest.mark.slow
def test_stop_before_the_extraction_stops_the_run_and_caches_nothing() -> None:
    from cnn_core.training.loop import train_run

    folder = create_run(vgg_config())
    folder.request_stop()
    assert train_run(folder) == RunState.STOPPED
    assert_stopped_without_model(folder)
    assert feature_cache.entries() == []
    assert cache_files() == []  # no temporary file left either


@pytest.mark.slow
def test_stop_while_extracting_keeps_only_complete_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the worker: Stop during the val split; train's entries stay whole and usable."""
    from cnn_core.training.worker import run_worker

    folder = create_run(vgg_config())
    real_compute = feature_cache.compute
    splits_seen = []

    def compute(keys, shapes, images, extract, on_progress=None, batch=SPLIT_BATCH):
        split = keys[0].split
        splits_seen.append(split)

        def progress(done: int, total: int) -> None:
            if split == "val" and done == SPLIT_BATCH:  # mid-split: 8 of 40 images done
                folder.request_stop()
            on_progress(done, total)

        return real_compute(keys, shapes, images, extract, progress, batch=SPLIT_BATCH)

    monkeypatch.setattr(feature_cache, "compute", compute)
    assert run_worker(folder) == 0
    assert_stopped_without_model(folder)
    assert splits_seen == ["train", "val"]  # test's features were never started
    entries = feature_cache.entries()
    assert sorted((e.split, e.layer) for e in entries) == [
        ("train", "block4_pool"),
        ("train", "block5_pool"),
    ]
    assert all(e.n == 160 for e in entries)  # 200 CIFAR-like images, 40 held out
    stems = {e.name for e in entries}
    assert cache_files() == sorted(f"{s}{suffix}" for s in stems for suffix in (".json", ".npy"))


def test_an_interrupted_compute_leaves_no_entry_even_after_its_last_batch() -> None:
    key = feature_cache.CacheKey("cifar10", "val", 0, 32, "w", "block5_pool", "imgs")
    images = np.arange(2 * 10 * 2 * 2 * 3, dtype=np.uint8).reshape(20, 2, 2, 3)

    def stop_at_the_end(done: int, total: int) -> None:
        if done == total:  # every output computed, none stored yet
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        feature_cache.compute(
            [key], [(3,)], images, lambda b: [b[:, 0, 0, :]], stop_at_the_end, batch=8
        )
    assert feature_cache.load(key) is None
    assert cache_files() == []
    stored = feature_cache.compute([key], [(3,)], images, lambda b: [b[:, 0, 0, :]], batch=8)[0]
    np.testing.assert_array_equal(stored, images[:, 0, 0, :].astype(np.float16))


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> Path:
    """A VGG16 run stopped during its extraction, produced once by real training code."""
    from cnn_core.training.loop import train_run

    root = tmp_path_factory.mktemp("stopped_store") / "runs"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_RUNS_DIR", str(root))
        patch.setenv("CNN_DATA_DIR", str(synthetic_data_dir))
        folder = create_run(vgg_config())
        folder.request_stop()
        assert train_run(folder) == RunState.STOPPED
    return folder.path


@pytest.fixture
def stopped_in_store(stopped_run: Path, isolated_store: Path) -> Iterator[RunFolder]:
    isolated_store.mkdir(parents=True, exist_ok=True)
    yield RunFolder(Path(shutil.copytree(stopped_run, isolated_store / stopped_run.name)))


@pytest.mark.slow
def test_runs_page_shows_the_stopped_run_without_downloads(stopped_in_store: RunFolder) -> None:
    at = open_app("pages/runs.py")
    table = at.dataframe[0].value
    assert list(table["name"]) == ["stopped vgg"]
    shown = texts(at)
    assert STATE_LABELS[RunState.STOPPED] in shown
    assert f"No model was saved: {STOPPED_WHILE_EXTRACTING}." in shown
    assert "Downloads are offered once the run has ended with a saved model." in shown
    assert not at.get("page_link")  # no Evaluate / Inside / Predict for a run without a model


@pytest.mark.slow
def test_evaluate_page_and_its_link_skip_the_run_without_a_model(
    stopped_in_store: RunFolder,
) -> None:
    for at in (
        open_app("pages/evaluate.py"),
        open_with_query("pages/evaluate.py", run=stopped_in_store.run_id),
    ):
        picker = at.selectbox(key="eval_run")
        assert picker.options and not any("stopped vgg" in label for label in picker.options)
        assert picker.value != stopped_in_store.run_id  # another model is shown
    assert "has no saved model" in texts(at)  # the link says why it shows another run


@pytest.mark.slow
def test_train_and_compare_pages_show_why_nothing_was_saved(stopped_in_store: RunFolder) -> None:
    shown = texts(open_app("pages/train.py"))
    assert f"No model was saved: {STOPPED_WHILE_EXTRACTING}." in shown
    assert "No finished epoch was recorded." in shown
    at = open_with_query("pages/compare.py", runs=stopped_in_store.run_id)
    assert "No saved model yet." in texts(at)
