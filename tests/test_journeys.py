"""Journeys across pages with every kind of run (AppTest through app.py).

One store holds a run of each kind (`tests/journey_runs.py`): a built-in CNN,
the softmax baseline, a CNN on imported images, VGG16 from a weights file, an
imported bundle, a stopped and a failed run. Every page must open with each of
them chosen, by `?run=` link and by picker, and show no exception; the run
must be the one shown. A second module-level store has private workspaces on
and another workspace's public runs (one trained on that workspace's own images,
one still training): they open on the pages that show runs, but Train's monitor
and the Runs page, which change runs, list only the visitor's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.base import settings, workspace
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import Progress, RunState
from cnn_core.store import access
from cnn_core.store.folder import create_run
from cnn_core.store.processes import process_start_time
from tests.apptest_support import assert_no_exception, open_app, open_with_query, texts
from tests.journey_runs import (
    KINDS,
    SMALL_CNN,
    SOFTMAX,
    JourneyRun,
    finished_run,
    make_runs,
    public_run_of_another_workspace,
)

MODEL_PAGES = {  # page -> its run picker's key
    "pages/evaluate.py": "eval_run",
    "pages/inside.py": "inside_run",
    "pages/predict.py": "predict_run",
}


def _point_at(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("CNN_RUNS_DIR", str(root / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("KERAS_HOME", str(root / "keras_home"))


def _data_folder(root: Path, synthetic_data_dir: Path) -> None:
    """root/data: the synthetic built-in datasets, and room for imported ones."""
    data = root / "data"
    data.mkdir()
    for item in synthetic_data_dir.iterdir():
        (data / item.name).symlink_to(item)


@pytest.fixture(scope="module")
def journey_root(
    tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path
) -> Iterator[tuple[Path, dict[str, JourneyRun]]]:
    root = tmp_path_factory.mktemp("journeys")
    _data_folder(root, synthetic_data_dir)
    with pytest.MonkeyPatch.context() as patch:
        _point_at(patch, root)
        made = make_runs(root)
    yield root, made


@pytest.fixture
def journeys(
    journey_root: tuple[Path, dict[str, JourneyRun]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, JourneyRun]:
    """The module's store of every kind of run, as this test's store."""
    root, made = journey_root
    _point_at(monkeypatch, root)
    return made


def _value(at, key: str):
    return at.selectbox(key=key).value


def _buttons(at: AppTest) -> set[str]:
    """The keys of the buttons and download buttons shown."""
    return {b.key for b in at.button} | {b.key for b in at.get("download_button")}


def _links_to(at: AppTest, run_id: str) -> set[str]:
    """The labels of the page links that open `run_id`."""
    return {
        link.proto.label
        for link in at.get("page_link")
        if f"run={run_id}" in link.proto.query_string.split("&")
    }


def test_the_store_holds_every_kind_of_run(journeys: dict[str, JourneyRun]) -> None:
    assert set(journeys) == set(KINDS)
    assert not journeys["failed"].has_model
    assert all(run.has_model for kind, run in journeys.items() if kind != "failed")


@pytest.mark.parametrize("page", list(MODEL_PAGES))
def test_model_pages_open_every_run_by_link_and_by_picker(
    page: str, journeys: dict[str, JourneyRun]
) -> None:
    key = MODEL_PAGES[page]
    with_model = {kind: run for kind, run in journeys.items() if run.has_model}
    for kind, run in with_model.items():
        at = open_with_query(page, run=run.run_id)  # fails on any exception
        assert _value(at, key) == run.run_id, (kind, page)
        labels = at.selectbox(key=key).options
        assert any(run.name in label for label in labels), (kind, labels)
    # A run without a model is not offered; its link says so and shows another run.
    failed = journeys["failed"].run_id
    at = open_with_query(page, run=failed)
    assert _value(at, key) != failed
    assert f"`{failed}` has no saved model" in texts(at)
    # The picker: choose each run in turn on one page, as a person would.
    at = open_app(page)
    for kind, run in with_model.items():
        at.selectbox(key=key).set_value(run.run_id).run()
        assert_no_exception(at)
        assert _value(at, key) == run.run_id, (kind, page)


def test_imported_images_run_shows_its_dataset_and_class_names_everywhere(
    journeys: dict[str, JourneyRun],
) -> None:
    run = journeys["my-images"]
    at = open_with_query("pages/predict.py", run=run.run_id)
    label = next(o for o in at.selectbox(key="predict_run").options if run.name in o)
    assert "My images: Shapes" in label
    at = open_with_query("pages/evaluate.py", run=run.run_id)
    page = texts(at) + str([f.value for f in at.dataframe])
    assert all(name in page for name in ("circle", "square", "triangle"))
    at = open_with_query("pages/compare.py", runs=f"{run.run_id},{journeys['cnn'].run_id}")
    table = next(f.value for f in at.dataframe if "dataset" in f.value.index)
    assert "My images: Shapes" in str(table.loc["dataset"].tolist())
    assert "?" not in table.loc["parameters"].tolist()


def test_train_monitor_and_runs_page_show_every_kind_of_run(
    journeys: dict[str, JourneyRun],
) -> None:
    at = open_app("pages/train.py")
    for kind, run in journeys.items():
        at.selectbox(key="train_monitor_run").set_value(run.run_id).run()
        assert_no_exception(at)
        assert _value(at, "train_monitor_run") == run.run_id, kind
    for kind, run in journeys.items():
        at = open_with_query("pages/runs.py", run=run.run_id)
        assert _value(at, "runs_selected") == run.run_id, kind


def test_a_stopped_and_a_failed_run_on_train_and_by_link_on_runs(
    journeys: dict[str, JourneyRun],
) -> None:
    stopped, failed = journeys["stopped"].run_id, journeys["failed"].run_id
    at = open_app("pages/train.py")
    at.selectbox(key="train_monitor_run").set_value(stopped).run()
    assert_no_exception(at)
    assert "stopped early by the user" in texts(at)
    assert "Epoch 2 was cut short by Stop" in texts(at)  # the partial epoch, left out
    assert "train_stop" not in _buttons(at)
    assert _links_to(at, stopped) == {"Evaluate", "Inside the CNN", "Predict"}
    at.selectbox(key="train_monitor_run").set_value(failed).run()
    assert_no_exception(at)
    assert "Training failed: the worker ran out of memory" in [e.value for e in at.error]
    assert "train_stop" not in _buttons(at) and not _links_to(at, failed)
    assert "Test accuracy" not in [m.label for m in at.metric]  # nothing trained to show

    # A link to the stopped run on Evaluate makes it the session's run: Train watches it.
    at = open_with_query("pages/evaluate.py", run=stopped)
    at.switch_page("pages/train.py").run()
    assert_no_exception(at)
    assert _value(at, "train_monitor_run") == stopped

    at = open_with_query("pages/runs.py", run=stopped)
    assert _value(at, "runs_selected") == stopped
    assert "stop_circle: stopped]" in texts(at)
    assert {"runs_download_keras", "runs_download_bundle"} <= _buttons(at)
    assert _links_to(at, stopped) == {"Evaluate", "Inside the CNN", "Predict"}
    at = open_with_query("pages/runs.py", run=failed)
    assert _value(at, "runs_selected") == failed
    assert ":material/error: failed]" in texts(at)
    assert "Downloads are offered once the run has ended with a saved model." in texts(at)
    assert not {"runs_download_keras", "runs_download_bundle"} & _buttons(at)
    assert not _links_to(at, failed)
    assert "runs_delete" in _buttons(at)  # one's own failed run can still be deleted


def test_compare_opens_every_run_from_a_link(journeys: dict[str, JourneyRun]) -> None:
    ids = [run.run_id for run in journeys.values()]
    at = open_with_query("pages/compare.py", runs=",".join(ids))
    table = next(f.value for f in at.dataframe if "dataset" in f.value.index)
    assert len(table.columns) == len(ids)
    for kind, run in journeys.items():
        other = journeys["cnn" if kind != "cnn" else "softmax"].run_id
        at = open_with_query("pages/compare.py", runs=f"{run.run_id},{other}")
        assert_no_exception(at)


# -- another workspace's public run -----------------------------------------------------

ALICE = workspace.new_workspace_id()
BOB = workspace.new_workspace_id()
CAROL = workspace.new_workspace_id()  # a workspace with no runs of its own


@pytest.fixture(scope="module")
def shared_root(
    tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path
) -> Iterator[tuple[Path, JourneyRun]]:
    root = tmp_path_factory.mktemp("workspaces")
    _data_folder(root, synthetic_data_dir)
    with pytest.MonkeyPatch.context() as patch:
        _point_at(patch, root)
        patch.setenv(settings.PRIVATE_WORKSPACES, "1")
        patch.setattr(workspace, "_resolver", lambda: ALICE)
        run = public_run_of_another_workspace(root, ALICE)
    yield root, run


def test_another_workspaces_public_run_on_its_own_images_opens_on_every_page(
    shared_root: tuple[Path, JourneyRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, run = shared_root
    _point_at(monkeypatch, root)
    monkeypatch.setenv(settings.PRIVATE_WORKSPACES, "1")
    try:
        for page, key in MODEL_PAGES.items():
            at = open_with_query(page, run=run.run_id, ws=BOB)
            assert _value(at, key) == run.run_id, page
            label = next(o for o in at.selectbox(key=key).options if run.name in o)
            assert "My images: Private shapes" in label  # recorded with the run
        at = open_with_query("pages/evaluate.py", run=run.run_id, ws=BOB)
        assert "not available here" in texts(at)  # Alice's images stay Alice's
        at = open_with_query("pages/compare.py", runs=run.run_id, ws=BOB)
        assert_no_exception(at)
    finally:
        workspace.set_resolver(None)


@pytest.fixture(scope="module")
def more_workspace_runs(shared_root: tuple[Path, JourneyRun]) -> tuple[str, str]:
    """Alice's second public run, still training (this test process is its "worker"),
    and Bob's own finished run: (the training run's id, Bob's run's id)."""
    root, _ = shared_root
    with pytest.MonkeyPatch.context() as patch:
        _point_at(patch, root)
        patch.setenv(settings.PRIVATE_WORKSPACES, "1")
        patch.setattr(workspace, "_resolver", lambda: ALICE)
        training = create_run(TrainConfig(dataset="mnist", model=SMALL_CNN, name="Alice trains"))
        pid = os.getpid()
        training.write_status(RunState.RUNNING, pid=pid, pid_start=process_start_time(pid))
        training.write_progress(Progress(epoch=1, epochs=5, batch=3, batches=10, elapsed=4.0))
        access.set_public(training, True)
        patch.setattr(workspace, "_resolver", lambda: BOB)
        own = finished_run(TrainConfig(dataset="mnist", model=SOFTMAX, name="Bob's own"))
    return training.run_id, own.run_id


@pytest.fixture
def as_bob(
    shared_root: tuple[Path, JourneyRun],
    more_workspace_runs: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[JourneyRun, str, str]]:
    """The workspaces' store as this test's, pages choosing the workspace from `?ws=`:
    (Alice's finished public run, Alice's training public run's id, Bob's run's id)."""
    root, public = shared_root
    _point_at(monkeypatch, root)
    monkeypatch.setenv(settings.PRIVATE_WORKSPACES, "1")
    try:
        yield public, *more_workspace_runs
    finally:
        workspace.set_resolver(None)


def test_train_monitor_lists_only_own_runs_never_another_workspaces_public_one(
    as_bob: tuple[JourneyRun, str, str],
) -> None:
    public, training, own = as_bob
    foreign = {public.run_id, training}
    for link in foreign:  # a link to the foreign run does not put it on the monitor
        at = open_with_query("pages/train.py", run=link, ws=BOB)
        assert _value(at, "train_monitor_run") == own
        options = at.selectbox(key="train_monitor_run").options
        assert len(options) == 1 and "Bob's own" in options[0]
        assert "train_stop" not in _buttons(at)
        assert [t.key for t in at.toggle if t.key.startswith("train_public_")] == [
            f"train_public_{own}"  # Bob may share his own run, not Alice's
        ]
    # Bob views Alice's public run on Evaluate (the session's run now), then opens Train.
    at = open_with_query("pages/evaluate.py", run=public.run_id, ws=BOB)
    assert _value(at, "eval_run") == public.run_id
    at.switch_page("pages/train.py").run()
    assert_no_exception(at)
    assert _value(at, "train_monitor_run") == own

    at = open_with_query("pages/train.py", run=public.run_id, ws=CAROL)
    assert "No runs yet" in texts(at)
    assert not [s for s in at.selectbox if s.key == "train_monitor_run"]


def test_runs_page_says_another_workspaces_public_run_cannot_be_managed_here(
    as_bob: tuple[JourneyRun, str, str],
) -> None:
    public, training, own = as_bob
    at = open_with_query("pages/runs.py", run=public.run_id, ws=BOB)
    assert _value(at, "runs_selected") == own  # Runs manages Bob's own runs
    assert [r for r in at.selectbox(key="runs_selected").options if "Shared shapes" in r] == []
    [notice] = [i.value for i in at.info if public.run_id in i.value]
    assert "shared read-only by another workspace" in notice
    assert "cannot be managed here" in notice
    assert _links_to(at, public.run_id) == {"Evaluate", "Inside the CNN", "Predict"}
    assert not [t for t in at.text_input if public.run_id in t.key]  # no rename form
    at.query_params["run"] = public.run_id  # Bob follows the notice's Predict link...
    at.switch_page("pages/predict.py").run()
    assert _value(at, "predict_run") == public.run_id
    at.query_params.clear()  # ...and comes back to Runs from the sidebar
    at.switch_page("pages/runs.py").run()
    assert_no_exception(at)
    assert _value(at, "runs_selected") == own

    at = open_with_query("pages/runs.py", run=training, ws=BOB)  # still training: no links
    assert any("cannot be managed here" in i.value for i in at.info)
    assert not _links_to(at, training)
    assert _value(at, "runs_selected") == own

    at = open_with_query("pages/runs.py", run=public.run_id, ws=CAROL)
    assert "No runs yet" in texts(at)
    assert any("cannot be managed here" in i.value for i in at.info)
    assert not {"runs_delete", "runs_download_keras", "runs_download_bundle"} & _buttons(at)

    unknown = "20260101-000000-mnist-cnn-dead"
    at = open_with_query("pages/runs.py", run=unknown, ws=BOB)
    assert any(f"`{unknown}` is not one of this workspace's runs" in w.value for w in at.warning)
    at = open_with_query("pages/runs.py", run="../../etc/passwd", ws=BOB)
    assert any("is not one of this workspace's runs" in w.value for w in at.warning)
