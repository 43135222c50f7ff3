"""The run store: atomic writes, the append-only log, killed and broken runs."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from cnn_core import runs
from cnn_core.config import ConvBlock, ModelSpec, TrainConfig
from tests.waiting import wait_for


def test_atomic_write_leaves_old_content_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "status.json"
    runs.atomic_write_json(target, {"state": "running"})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(runs.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        runs.atomic_write_json(target, {"state": "completed"})
    assert runs.read_json(target)["state"] == "running"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "progress.json"
    runs.atomic_write_json(target, {"i": 0, "pad": "x" * 50_000})
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            runs.atomic_write_json(target, {"i": i, "pad": "y" * (50_000 + i % 7)})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = [json.loads(target.read_text())["i"] for _ in range(300)]
    finally:
        stop.set()
        thread.join()
    assert seen[-1] > 0 and all(isinstance(i, int) for i in seen)


def test_torn_last_line_of_the_history_is_ignored(tmp_path: Path) -> None:
    runs.append_metrics(tmp_path, {"epoch": 1, "loss": 0.5})
    runs.append_metrics(tmp_path, {"epoch": 2, "loss": 0.4})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "loss": 0.')  # the worker died mid-write
    history = runs.read_history(tmp_path)
    assert [r["epoch"] for r in history] == [1, 2]


def test_run_round_trip_and_listing(isolated_store: Path) -> None:
    config = TrainConfig(name="first", seed=3)
    path = runs.create_run(config)
    assert path.parent == isolated_store
    runs.write_status(path, "completed", pid=None)
    runs.append_metrics(path, {"epoch": 1, "val_accuracy": 0.8})
    runs.append_metrics(path, {"epoch": 2, "val_accuracy": 0.9})
    (listed,) = runs.list_runs()
    assert listed.config == config and listed.state == "completed"
    assert listed.epochs_done == 2 and listed.best_val_accuracy == 0.9


def test_broken_folders_are_listed_as_broken(isolated_store: Path) -> None:
    good = runs.create_run(TrainConfig())
    runs.write_status(good, "completed")
    garbage = isolated_store / "20260101-000000-garbage"
    garbage.mkdir()
    (garbage / "status.json").write_text("{not json")
    no_config = isolated_store / "20260101-000001-noconfig"
    no_config.mkdir()
    runs.atomic_write_json(no_config / "status.json", {"state": "running", "pid": 1})
    weird_state = runs.create_run(TrainConfig(seed=5))
    runs.write_status(weird_state, "exploded")
    (isolated_store / "stray-file.txt").write_text("not a run")
    states = {r.run_id: r.state for r in runs.list_runs()}
    assert states[good.name] == "completed"
    assert states[garbage.name] == states[no_config.name] == states[weird_state.name] == "broken"
    assert len(states) == 4


def test_sigkilled_worker_is_listed_as_interrupted_with_its_epochs(isolated_store: Path) -> None:
    from cnn_core.worker import start_worker

    config = TrainConfig(
        model=ModelSpec(kind="cnn", conv_blocks=(ConvBlock(4, 3),)),
        epochs=200,
        batch_size=16,
        early_stopping=False,
    )
    path = runs.create_run(config)
    proc = start_worker(path)
    try:
        wait_for(lambda: runs.load_run(path).epochs_done >= 1, timeout=120, what="one epoch")
        assert runs.load_run(path).state == "running"
        os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.5)  # the killed worker stays a zombie (unreaped child) meanwhile
        run = runs.load_run(path)
        assert run.state == runs.INTERRUPTED
        assert run.epochs_done >= 1
        assert run.has_model  # saved after every epoch
        assert "ended without finishing" in run.message
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_pid_alive_tells_a_reused_pid_apart() -> None:
    me = os.getpid()
    assert runs.pid_alive(me, runs.process_start_time(me))
    assert not runs.pid_alive(me, "1")
    assert not runs.pid_alive(None) and not runs.pid_alive(-5)


def test_run_ids_cannot_escape_the_store() -> None:
    with pytest.raises(runs.UserError):
        runs.run_dir("../etc")
