"""The run store's read cache: lists parse a run's files again only when one changed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import EpochRecord, Evaluation, PerClass, RunNotes, RunState
from cnn_core.store import access
from cnn_core.store import runs as run_catalog
from cnn_core.store.access import delete_run
from cnn_core.store.atomic import atomic_write_json, atomic_write_text
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.processes import process_start_time
from cnn_core.store.runs import files_signature, list_runs, load_run, read_cache
from cnn_core.store.signed_cache import SignedCache
from tests.run_factory import make_run


def count_config_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the run id of every config.json parse."""
    reads: list[str] = []
    original = RunFolder.read_config

    def counted(self: RunFolder) -> TrainConfig:
        reads.append(self.run_id)
        return original(self)

    monkeypatch.setattr(RunFolder, "read_config", counted)
    return reads


def test_an_unchanged_run_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_run(root=tmp_path)
    reads = count_config_reads(monkeypatch)
    first, second = list_runs(tmp_path), list_runs(tmp_path)
    assert [r.run_id for r in first] == [r.run_id for r in second] == [folder.run_id]
    assert reads == [folder.run_id]  # the second listing came from the cache
    assert second[0].config == first[0].config


def test_created_renamed_and_deleted_runs_show_on_the_next_listing(tmp_path: Path) -> None:
    old = make_run(TrainConfig(name="first"), root=tmp_path)
    assert [r.config.name for r in list_runs(tmp_path)] == ["first"]
    time.sleep(0.01)  # a newer `created` sorts it first
    new = make_run(TrainConfig(name="second"), root=tmp_path)
    assert [r.run_id for r in list_runs(tmp_path)] == [new.run_id, old.run_id]
    access.rename_run(old, "renamed")
    assert {r.run_id: r.config.name for r in list_runs(tmp_path)}[old.run_id] == "renamed"
    delete_run(new)
    listed = list_runs(tmp_path)
    assert [(r.run_id, r.config.name) for r in listed] == [(old.run_id, "renamed")]


def test_epochs_evaluation_notes_and_status_changes_are_seen(tmp_path: Path) -> None:
    folder = create_run(TrainConfig(dataset="mnist"), tmp_path)
    folder.write_status(RunState.RUNNING, pid=os.getpid())
    run = load_run(folder.path)
    assert (run.state, run.epochs_done, run.test_accuracy) == (RunState.RUNNING, 0, None)
    folder.append_epoch(EpochRecord(epoch=1, loss=0.5, accuracy=0.8, val_accuracy=0.75))
    run = load_run(folder.path)
    assert (run.epochs_done, run.best_val_accuracy) == (1, 0.75)
    access.save_notes(folder, RunNotes(tags=("keep",)))
    assert load_run(folder.path).notes.tags == ("keep",)
    evaluation = Evaluation(
        n=10,
        correct=9,
        accuracy=0.9,
        loss=0.3,
        class_names=("a", "b"),
        confusion_matrix=((5, 1), (0, 4)),
        per_class=PerClass((1.0, 0.8), (0.83, 1.0), (0.9, 0.9), (6, 4)),
    )
    atomic_write_json(folder.evaluation_path, evaluation.to_dict())
    folder.write_status(RunState.COMPLETED)
    run = load_run(folder.path)
    assert (run.state, run.test_accuracy) == (RunState.COMPLETED, 0.9)


def test_a_dead_worker_is_noticed_although_its_files_did_not_change(tmp_path: Path) -> None:
    folder = create_run(TrainConfig(dataset="mnist"), tmp_path)
    worker = subprocess.Popen(["sleep", "60"])
    try:
        start = process_start_time(worker.pid)
        folder.write_status(RunState.RUNNING, pid=worker.pid, pid_start=start)
        assert load_run(folder.path).state == RunState.RUNNING
        signature = files_signature(folder)
    finally:
        worker.kill()
        worker.wait()
    assert files_signature(folder) == signature  # served from the cache
    run = load_run(folder.path)
    assert run.state == RunState.INTERRUPTED
    assert "ended without finishing" in run.message


def test_a_folder_that_breaks_and_is_repaired_is_read_again(tmp_path: Path) -> None:
    folder = make_run(root=tmp_path)
    good = folder.config_path.read_text()
    folder.config_path.write_text("{not json")
    assert load_run(folder.path).state == RunState.BROKEN
    atomic_write_text(folder.config_path, good)
    assert load_run(folder.path).state == RunState.COMPLETED


def test_the_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_catalog.read_cache, "size", 3)
    for _ in range(5):
        make_run(root=tmp_path)
    assert len(list_runs(tmp_path)) == 5
    assert len(read_cache) <= 3


def test_a_signed_entry_is_served_only_under_its_signature_and_the_oldest_goes_first() -> None:
    cache: SignedCache[str] = SignedCache(2)
    cache.put(Path("a"), (1,), "read under 1")
    assert cache.get(Path("a"), (1,)) == "read under 1"
    assert cache.get(Path("a"), (2,)) is None  # the files changed since
    cache.put(Path("b"), (1,), "b")
    cache.get(Path("a"), (1,))  # a is now the most recently used
    cache.put(Path("c"), (1,), "c")
    assert cache.get(Path("b"), (1,)) is None and cache.get(Path("a"), (1,)) == "read under 1"
    assert len(cache) == 2
