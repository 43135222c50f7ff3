"""Real training through the worker process: results on disk, Stop, the queue, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_core.schema.config import (
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    OptimizerSpec,
    TrainConfig,
)
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import list_runs, load_run
from cnn_core.training.worker import launch_run
from tests.conftest import REPO
from tests.waiting import wait_for

TINY_CNN = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 3),), dense_layers=(DenseLayer(32),))
LONG_FIT = FitSpec(epochs=300, batch_size=8, early_stopping=False)


def finished(folder: RunFolder) -> bool:
    return not load_run(folder.path).active


def state_of(folder: RunFolder) -> RunState:
    return load_run(folder.path).state


def stop_and_wait(folder: RunFolder) -> None:
    folder.request_stop()
    wait_for(lambda: finished(folder), timeout=120, what=f"{folder.run_id} to stop")


@pytest.mark.slow
def test_worker_trains_and_stores_history_model_and_test_accuracy() -> None:
    config = TrainConfig(
        model=TINY_CNN,
        optimizer=OptimizerSpec(schedule="cosine"),
        fit=FitSpec(epochs=2, batch_size=32),
        validation=100,
        seed=1,
    )
    folder, created = launch_run(config)
    assert created
    wait_for(lambda: finished(folder), timeout=180, what="the run to finish")
    run = load_run(folder.path)
    assert run.state == RunState.COMPLETED, run.message
    history = folder.read_history()
    assert [r.epoch for r in history] == [1, 2]
    assert all(None not in (r.loss, r.accuracy, r.val_loss, r.val_accuracy) for r in history)
    # Cosine decay: epoch 1 starts at the chosen rate, epoch 2 of 2 halfway down.
    rate = config.optimizer.learning_rate
    assert history[0].learning_rate == pytest.approx(rate)
    assert history[1].learning_rate == pytest.approx(rate / 2, rel=0.05)
    evaluation = folder.read_evaluation()
    assert evaluation.n == 200  # the synthetic test set
    assert evaluation.accuracy > 0.3  # ten classes: chance is 0.1
    assert np.asarray(evaluation.confusion_matrix).sum() == 200
    probs, y_true = folder.read_predictions(10, 200)
    assert probs.shape == (200, 10) and y_true.shape == (200,)
    assert any(folder.tensorboard_dir.rglob("events.out.tfevents.*"))
    status = folder.read_status()
    assert status.n_train == 500 and status.n_val == 100
    assert status.train_seconds > 0
    assert status.test_accuracy == evaluation.accuracy

    from cnn_core.base.tf_runtime import import_keras

    model = import_keras().saving.load_model(folder.model_path)
    x = np.zeros((1, 28, 28, 1), np.float32)
    assert np.asarray(model(x)).shape == (1, 10)


@pytest.mark.slow
def test_stop_ends_training_and_keeps_the_model() -> None:
    folder, _ = launch_run(TrainConfig(model=TINY_CNN, fit=LONG_FIT))
    wait_for(lambda: load_run(folder.path).epochs_done >= 1, timeout=120, what="one epoch")
    stop_and_wait(folder)
    run = load_run(folder.path)
    assert run.state == RunState.STOPPED
    assert 1 <= run.epochs_done < 300
    assert run.has_model
    assert folder.read_evaluation().n == 200


@pytest.mark.slow
def test_stop_mid_epoch_records_the_partial_epoch_as_such() -> None:
    """One image a batch: an epoch is 500 batches, so a stop pressed in its first
    half lands between two of them (progress is written every half second)."""
    fit = FitSpec(epochs=300, batch_size=1, early_stopping=False)
    folder, _ = launch_run(TrainConfig(model=TINY_CNN, fit=fit, validation=100))

    def early_in_epoch_two() -> bool:
        progress = folder.read_progress()
        return bool(progress and progress.epoch >= 2 and 0 < progress.batch < 250)

    wait_for(early_in_epoch_two, timeout=180, what="the first half of epoch 2", every=0.02)
    stop_and_wait(folder)
    run = load_run(folder.path)
    assert run.state == RunState.STOPPED
    *whole, cut = folder.read_history()
    assert cut.partial and not any(r.partial for r in whole)
    assert 1 <= cut.batches < 500
    assert cut.val_loss is None and cut.val_accuracy is None  # its validation was skipped
    assert all(r.val_loss is not None for r in whole)
    assert run.epochs_done == len(whole) >= 1
    assert folder.read_evaluation().n == 200  # the model so far was still evaluated


@pytest.mark.slow
def test_a_second_launch_waits_in_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNN_MAX_TRAININGS", "1")
    first, _ = launch_run(TrainConfig(model=TINY_CNN, fit=LONG_FIT, seed=1))
    second, _ = launch_run(TrainConfig(model=TINY_CNN, fit=LONG_FIT, seed=2))
    try:
        wait_for(lambda: state_of(first) == RunState.RUNNING, timeout=60, what="first running")
        for _ in range(10):  # the second keeps waiting while the first trains
            assert state_of(second) == RunState.QUEUED
            __import__("time").sleep(0.2)
        stop_and_wait(first)
        wait_for(lambda: state_of(second) == RunState.RUNNING, timeout=60, what="its turn")
    finally:
        stop_and_wait(second)
        stop_and_wait(first)


def test_double_launch_creates_one_run(isolated_store: Path) -> None:
    config = TrainConfig(model=TINY_CNN, fit=LONG_FIT)
    path_a, created_a = launch_run(config)
    path_b, created_b = launch_run(config)
    try:
        assert created_a and not created_b
        assert path_a == path_b
        assert len([p for p in isolated_store.iterdir() if p.is_dir() and p.name[0] != "."]) == 1
    finally:
        stop_and_wait(path_a)


@pytest.mark.slow
def test_failed_run_records_a_readable_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad" / "mnist"
    bad.mkdir(parents=True)
    for name in runs_files():
        (bad / name).write_bytes(b"garbage")
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "bad"))
    folder, _ = launch_run(TrainConfig(model=TINY_CNN, fit=FitSpec(epochs=1)))
    wait_for(lambda: finished(folder), timeout=120, what="the run to fail")
    run = load_run(folder.path)
    assert run.state == RunState.FAILED
    assert "unreadable" in run.message and "MNIST" in run.message


def runs_files() -> list[str]:
    from cnn_core.data.builtin import IDX_FILES

    return [f"{name}.gz" for name in IDX_FILES]


@pytest.mark.slow
def test_headless_cli_trains_from_a_config_file(tmp_path: Path) -> None:
    config = TrainConfig(model=TINY_CNN, fit=FitSpec(epochs=1, batch_size=64), name="headless")
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config.to_dict()))
    store = tmp_path / "store"
    cli = [sys.executable, "-m", "cnn_core.training.worker", "--config", str(config_file)]
    done = subprocess.run(
        [*cli, "--runs-dir", str(store)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = list_runs(store)
    assert run.state == RunState.COMPLETED and run.config == config and run.has_model


def test_headless_cli_refuses_an_absurd_config(tmp_path: Path) -> None:
    record = TrainConfig(model=TINY_CNN, fit=FitSpec(batch_size=0)).to_dict()
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(record))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnn_core.training.worker",
            "--config",
            str(config_file),
            "--runs-dir",
            str(tmp_path / "store"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "batch size must be between 1 and 4096" in done.stderr
    assert not (tmp_path / "store").exists()  # no run was created
