"""Managing runs: rename, tags and notes, delete (stopping a training run first), filters."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cnn_core.base.errors import UserError
from cnn_core.insight.run_filters import RunFilter, filter_choices
from cnn_core.schema.config import PRESETS, ModelSpec, TrainConfig
from cnn_core.schema.records import SCHEMA_VERSION, RecordError, RunNotes, RunState
from cnn_core.store import access
from cnn_core.store.access import delete_run
from cnn_core.store.atomic import atomic_write_json
from cnn_core.store.folder import STARTER_ROOT, RunFolder
from cnn_core.store.processes import pid_alive, process_start_time
from cnn_core.store.runs import list_runs, load_run
from cnn_core.training.worker import launch_run
from tests.run_factory import make_run
from tests.test_worker import LONG_FIT, TINY_CNN
from tests.waiting import wait_for


def new_run(name: str = "", dataset: str = "mnist", spec: ModelSpec | None = None) -> RunFolder:
    return make_run(TrainConfig(dataset=dataset, model=spec or TINY_CNN, name=name))


def starter() -> RunFolder:
    (path,) = [p for p in STARTER_ROOT.iterdir() if p.is_dir()]
    return RunFolder(path)


def test_rename_keeps_everything_else() -> None:
    folder = new_run("old")
    before = folder.read_config()
    access.rename_run(folder, "  better name ")
    after = load_run(folder.path)
    assert after.config.name == "better name"
    assert after.config.model == before.model and after.run_id == folder.run_id
    with pytest.raises(UserError, match="at most 60"):
        access.rename_run(folder, "x" * 61)
    assert folder.read_config().name == "better name"


def test_tags_and_notes_are_stored_and_read_back() -> None:
    folder = new_run()
    assert load_run(folder.path).notes == RunNotes()  # none yet
    access.save_notes(folder, RunNotes.create(["Baseline", "baseline", " cpu "], "lr too high?"))
    run = load_run(folder.path)
    assert run.notes.tags == ("baseline", "cpu") and run.notes.text == "lr too high?"


@pytest.mark.parametrize(
    ("tags", "text", "match"),
    [
        (["a/b"], "", "letters, digits"),
        (["x" * 31], "", "up to 30"),
        ([f"t{i}" for i in range(13)], "", "at most 12 tags"),
        ("one,two", "", "a list"),
        ([], "n" * 5001, "at most 5,000"),
    ],
)
def test_bad_tags_or_notes_are_refused(tags: object, text: str, match: str) -> None:
    with pytest.raises(RecordError, match=match):
        RunNotes.create(tags, text)


def test_notes_from_a_newer_version_make_the_run_broken_not_a_crash() -> None:
    folder = new_run()
    atomic_write_json(folder.notes_path, {"schema_version": SCHEMA_VERSION + 1, "tags": []})
    run = load_run(folder.path)
    assert run.state == RunState.BROKEN and "newer CNN Studio" in run.message


def test_starter_runs_cannot_be_changed() -> None:
    folder = starter()
    for action in (
        lambda: access.rename_run(folder, "mine"),
        lambda: access.save_notes(folder, RunNotes.create(["x"])),
        lambda: delete_run(folder),
    ):
        with pytest.raises(UserError, match="starter"):
            action()
    assert folder.model_path.is_file() and not folder.notes_path.exists()


def test_delete_removes_a_finished_run_only() -> None:
    keep, gone = new_run("keep"), new_run("gone")
    delete_run(gone)
    assert [r.run_id for r in list_runs()] == [keep.run_id]


@pytest.mark.slow
def test_delete_stops_a_training_run_first() -> None:
    folder, _ = launch_run(TrainConfig(model=TINY_CNN, fit=LONG_FIT))
    wait_for(lambda: load_run(folder.path).state == RunState.RUNNING, 120, "running")
    pid = folder.read_status().pid
    delete_run(folder)
    assert not folder.path.exists()
    assert not pid_alive(pid)


def test_delete_terminates_a_worker_that_ignores_stop() -> None:
    folder = new_run()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        folder.write_status(
            RunState.RUNNING, pid=sleeper.pid, pid_start=process_start_time(sleeper.pid)
        )
        assert load_run(folder.path).active
        delete_run(folder, stop_timeout=0.5)
        assert sleeper.wait(timeout=10) != 0  # terminated by a signal
        assert not folder.path.exists()
    finally:
        sleeper.kill()


def test_filters_by_dataset_model_tag_and_state() -> None:
    digits = new_run("digits")
    access.save_notes(digits, RunNotes.create(["keep"]))
    clothes = new_run("clothes", dataset="fashion_mnist", spec=PRESETS["Softmax regression"])
    access.save_notes(clothes, RunNotes.create(["keep", "wide"]))
    failed = new_run("failed")
    failed.write_status(RunState.FAILED, message="boom")
    every = list_runs()

    def names(filt: RunFilter) -> set[str]:
        return {r.config.name for r in filt.apply(every)}

    assert names(RunFilter()) == {"digits", "clothes", "failed"}
    assert names(RunFilter(datasets=frozenset({"fashion_mnist"}))) == {"clothes"}
    assert names(RunFilter(models=frozenset({"Softmax regression"}))) == {"clothes"}
    assert names(RunFilter(tags=frozenset({"keep"}))) == {"digits", "clothes"}
    assert names(RunFilter(tags=frozenset({"wide"}))) == {"clothes"}
    assert names(RunFilter(states=frozenset({RunState.FAILED}))) == {"failed"}
    both = RunFilter(datasets=frozenset({"mnist"}), tags=frozenset({"keep"}))
    assert names(both) == {"digits"}
    choices = filter_choices(every)
    assert choices.datasets == ["fashion_mnist", "mnist"]
    assert choices.tags == ["keep", "wide"]
    assert choices.states == [RunState.COMPLETED, RunState.FAILED]
    assert "Softmax regression" in choices.models and len(choices.models) == 2


def test_imported_from_survives_a_rewrite(isolated_store: Path) -> None:
    folder = new_run()
    access.save_notes(folder, RunNotes.create(["a"], "", imported_from="elsewhere-1"))
    notes = folder.read_notes()
    access.save_notes(folder, RunNotes.create(["b"], "edited", notes.imported_from))
    assert folder.read_notes().imported_from == "elsewhere-1"
