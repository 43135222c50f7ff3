"""The run store: atomic writes, the append-only log, killed and broken runs."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.schema.config import ConvBlock, FitSpec, ModelSpec, TrainConfig
from cnn_core.schema.records import SCHEMA_VERSION, EpochRecord, Evaluation, RunState, whole_epochs
from cnn_core.store import atomic
from cnn_core.store.atomic import atomic_write_json, read_json
from cnn_core.store.folder import RunFolder, create_run, run_folder
from cnn_core.store.processes import pid_alive, process_start_time
from cnn_core.store.runs import list_runs, load_run
from scripts.synthetic_data import random_predictions
from tests.waiting import wait_for

N_CLASSES = 4


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray]:
    """probs float32 (300, 4) that are right about 60% of the time, and y_true (300,)."""
    return random_predictions(N_CLASSES)


def test_atomic_write_leaves_old_content_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "status.json"
    atomic_write_json(target, {"state": "running"})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"state": "completed"})
    assert read_json(target)["state"] == "running"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "progress.json"
    atomic_write_json(target, {"i": 0, "pad": "x" * 50_000})
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            atomic_write_json(target, {"i": i, "pad": "y" * (50_000 + i % 7)})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = [json.loads(target.read_text())["i"] for _ in range(300)]
    finally:
        stop.set()
        thread.join()
    assert seen[-1] > 0 and all(isinstance(i, int) for i in seen)


def test_torn_last_line_of_the_history_is_ignored(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.append_epoch(EpochRecord(epoch=1, loss=0.5))
    folder.append_epoch(EpochRecord(epoch=2, loss=0.4))
    with open(folder.metrics_path, "a") as handle:
        handle.write('{"epoch": 3, "loss": 0.')  # the worker died mid-write
    history = folder.read_history()
    assert [r.epoch for r in history] == [1, 2]
    assert [r.loss for r in history] == [0.5, 0.4]


def test_run_round_trip_and_listing(isolated_store: Path) -> None:
    config = TrainConfig(name="first", seed=3)
    folder = create_run(config)
    assert folder.path.parent == isolated_store
    assert folder.read_config() == config
    folder.write_status(RunState.COMPLETED, pid=None)
    folder.append_epoch(EpochRecord(epoch=1, val_accuracy=0.8))
    folder.append_epoch(EpochRecord(epoch=2, val_accuracy=0.9))
    (listed,) = list_runs()
    assert listed.config == config and listed.state == RunState.COMPLETED
    assert listed.epochs_done == 2 and listed.best_val_accuracy == 0.9


def test_status_keeps_earlier_fields_and_refuses_unknown_ones(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.write_status(RunState.QUEUED, created=123.0)
    status = folder.write_status(RunState.RUNNING, n_train=500)
    assert (status.state, status.created, status.n_train) == (RunState.RUNNING, 123.0, 500)
    assert folder.read_status() == status
    with pytest.raises(TypeError):
        folder.write_status(RunState.RUNNING, no_such_field=1)


def test_broken_folders_are_listed_as_broken(isolated_store: Path) -> None:
    good = create_run(TrainConfig())
    good.write_status(RunState.COMPLETED)
    garbage = isolated_store / "20260101-000000-garbage"
    garbage.mkdir()
    (garbage / "status.json").write_text("{not json")
    no_config = isolated_store / "20260101-000001-noconfig"
    no_config.mkdir()
    atomic_write_json(no_config / "status.json", {"state": "running", "pid": 1})
    weird_state = create_run(TrainConfig(seed=5))
    record = read_json(weird_state.status_path)
    atomic_write_json(weird_state.status_path, {**record, "state": "exploded"})
    (isolated_store / "stray-file.txt").write_text("not a run")
    found = {r.run_id: r for r in list_runs()}
    assert found[good.run_id].state == RunState.COMPLETED
    broken = [found[name] for name in (garbage.name, no_config.name, weird_state.run_id)]
    assert all(r.state == RunState.BROKEN for r in broken)
    assert "exploded" in found[weird_state.run_id].message
    assert len(found) == 4


@pytest.mark.slow
def test_sigkilled_worker_is_listed_as_interrupted_with_its_epochs(isolated_store: Path) -> None:
    from cnn_core.training.worker import start_worker

    config = TrainConfig(
        model=ModelSpec(kind="cnn", conv_blocks=(ConvBlock(4, 3),)),
        fit=FitSpec(epochs=200, batch_size=16, early_stopping=False),
    )
    folder = create_run(config)
    proc = start_worker(folder)
    path = folder.path
    try:
        wait_for(lambda: load_run(path).epochs_done >= 1, timeout=120, what="one epoch")
        assert load_run(path).state == RunState.RUNNING
        os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.5)  # the killed worker stays a zombie (unreaped child) meanwhile
        run = load_run(path)
        assert run.state == RunState.INTERRUPTED
        assert run.epochs_done >= 1
        assert run.has_model  # saved after every epoch
        assert "ended without finishing" in run.message
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_pid_alive_tells_a_reused_pid_apart() -> None:
    me = os.getpid()
    assert pid_alive(me, process_start_time(me))
    assert not pid_alive(me, "1")
    assert not pid_alive(None) and not pid_alive(-5)


def test_run_ids_cannot_escape_the_store() -> None:
    with pytest.raises(UserError):
        run_folder("../etc")


def test_predictions_file_round_trip(tmp_path: Path, predictions) -> None:
    probs, y_true = predictions
    folder = RunFolder(tmp_path)
    path = folder.predictions_path
    np.savez_compressed(path, probs=probs, y_true=y_true.astype(np.uint8))
    got_probs, got_true = folder.read_predictions(N_CLASSES, len(y_true))
    np.testing.assert_array_equal(got_probs, probs)
    assert got_true.dtype == np.int64 and np.array_equal(got_true, y_true)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("missing", "missing"),
        ("garbage", "damaged"),
        ("truncated", "damaged"),
        ("wrong_keys", "damaged"),
        ("wrong_classes", "4 probability columns for 5 classes"),
        ("wrong_count", "300 predictions where the evaluation counted 299"),
        ("nan", "not finite"),
    ],
)
def test_damaged_predictions_file_is_a_user_error(
    tmp_path: Path, predictions, damage: str, words: str
) -> None:
    probs, y_true = predictions
    folder = RunFolder(tmp_path)
    path = folder.predictions_path
    n_classes, n_images = N_CLASSES, len(y_true)
    if damage != "missing":
        np.savez_compressed(path, probs=probs, y_true=y_true)
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "wrong_keys":
        np.savez_compressed(path, something=probs)
    elif damage == "wrong_classes":
        n_classes = 5
    elif damage == "wrong_count":
        n_images = len(y_true) - 1
    elif damage == "nan":
        probs = probs.copy()
        probs[3, 1] = np.nan
        np.savez_compressed(path, probs=probs, y_true=y_true)
    with pytest.raises(UserError, match=words):
        folder.read_predictions(n_classes, n_images)


def write_version_1_run(folder: Path) -> None:
    """A run folder exactly as CNN Studio wrote it before schema version 2."""
    folder.mkdir(parents=True)
    flat = {
        "schema_version": 1,
        "dataset": "mnist",
        "model": {"kind": "softmax", "conv_blocks": [], "dense_layers": []},
        "validation": 0.1,
        "train_subset": 0,
        "optimizer": "adam",
        "learning_rate": 0.002,
        "momentum": 0.9,
        "batch_size": 128,
        "epochs": 2,
        "early_stopping": True,
        "patience": 3,
        "restore_best_weights": True,
        "seed": 1,
        "name": "made by version 1",
    }
    atomic_write_json(folder / "config.json", {"schema_version": 1, "config": flat})
    status = {"schema_version": 1, "state": "completed", "created": 100.0, "pid": None}
    atomic_write_json(folder / "status.json", status | {"train_seconds": 4.5})
    lines = [
        {"epoch": 1, "seconds": 2.0, "loss": 0.9, "val_accuracy": 0.7},  # no learning_rate yet
        {"epoch": 2, "seconds": 2.5, "loss": 0.5, "val_accuracy": 0.8, "some_metric": 1.0},
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    evaluation = {
        "schema_version": 1,
        "n": 4,
        "correct": 3,
        "accuracy": 0.75,
        "loss": 0.6,
        "class_names": ["a", "b"],
        "confusion_matrix": [[2, 1], [0, 1]],
        "per_class": {
            "precision": [1.0, 0.5],
            "recall": [0.667, 1.0],
            "f1": [0.8, 0.667],
            "support": [3, 1],
        },
    }
    atomic_write_json(folder / "evaluation.json", evaluation)


def test_a_version_1_run_folder_is_read_and_migrated(isolated_store: Path) -> None:
    write_version_1_run(isolated_store / "20250101-000000-mnist-softmax-0001")
    (run,) = list_runs()
    assert run.state == RunState.COMPLETED, run.message
    assert run.config.name == "made by version 1"
    assert run.config.optimizer.learning_rate == 0.002
    assert run.config.optimizer.schedule == "constant"  # before schedules: a constant rate
    assert run.config.fit.batch_size == 128
    assert run.status.train_seconds == 4.5
    history = run.read_history()
    assert [r.epoch for r in history] == [1, 2]
    assert history[0].learning_rate is None and history[1].val_accuracy == 0.8
    assert run.best_val_accuracy == 0.8 and run.test_accuracy == 0.75
    evaluation = run.read_evaluation()
    assert evaluation.class_names == ("a", "b") and evaluation.errors == 1
    assert evaluation.per_class.support == (3, 1)
    # A run written now carries the current version, once, in each file.
    written = create_run(run.config)
    saved = read_json(written.config_path)
    assert saved["schema_version"] == SCHEMA_VERSION
    assert "schema_version" not in saved["config"]
    assert written.read_config() == run.config


@pytest.mark.parametrize("file", ["config.json", "status.json", "evaluation.json", "metrics"])
def test_a_record_from_a_newer_version_is_refused_clearly(isolated_store: Path, file: str) -> None:
    folder = create_run(TrainConfig(name="from the future"))
    folder.write_status(RunState.COMPLETED)
    newer = SCHEMA_VERSION + 1
    if file == "metrics":
        record = EpochRecord(epoch=1, loss=0.5).to_dict() | {"schema_version": newer}
        folder.metrics_path.write_text(json.dumps(record) + "\n")
    else:
        path = folder.path / file
        if file == "evaluation.json":
            probs = np.full((2, 2), 0.5, np.float32)
            folder.save_evaluation(_evaluation(), probs, np.array([0, 1]))
        atomic_write_json(path, read_json(path) | {"schema_version": newer})
    run = load_run(folder.path)
    message = f"newer CNN Studio (schema version {newer}; this one reads versions up to"
    if file == "evaluation.json":  # the run itself is fine; its evaluation cannot be shown
        assert run.state == RunState.COMPLETED and run.read_evaluation() is None
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            Evaluation.from_dict(read_json(folder.evaluation_path))
    else:
        assert run.state == RunState.BROKEN
        assert message in run.message, run.message


def _evaluation() -> Evaluation:
    from cnn_core.models.evaluate import summarize

    return summarize(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 1]), ["x", "y"])


def test_stop_request_is_shown_as_stopping_while_the_run_is_active(isolated_store: Path) -> None:
    folder = create_run(TrainConfig())
    folder.write_status(
        RunState.RUNNING, pid=os.getpid(), pid_start=process_start_time(os.getpid())
    )
    assert not load_run(folder.path).stopping
    before = time.time()
    folder.request_stop()
    run = load_run(folder.path)
    assert run.stopping and before <= run.stop_requested_at <= time.time()
    first = run.stop_requested_at
    folder.request_stop()  # pressed again: the first press is the one kept
    assert load_run(folder.path).stop_requested_at == first
    folder.write_status(RunState.STOPPED)
    assert not load_run(folder.path).stopping  # ended: nothing pending


def test_an_epoch_line_without_partial_reads_as_a_whole_epoch() -> None:
    old = {"schema_version": 1, "epoch": 2, "loss": 0.5}
    assert EpochRecord.from_dict(old).partial is False
    cut = EpochRecord(3, loss=2.0, partial=True, batches=7)
    assert EpochRecord.from_dict(cut.to_dict()) == cut
    assert whole_epochs([EpochRecord.from_dict(old), cut]) == [EpochRecord.from_dict(old)]
