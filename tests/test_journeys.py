"""Journeys across pages with every kind of run (AppTest through app.py).

One store holds a run of each kind (`tests/journey_runs.py`): a built-in CNN,
the softmax baseline, a CNN on imported images, VGG16 from a weights file, an
imported bundle, a stopped and a failed run. Every page must open with each of
them chosen, by `?run=` link and by picker, and show no exception; the run
must be the one shown. A second module-level store has private workspaces on
and another workspace's public run trained on that workspace's own images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cnn_core.base import settings, workspace
from tests.apptest_support import assert_no_exception, open_app, open_with_query, texts
from tests.journey_runs import KINDS, JourneyRun, make_runs, public_run_of_another_workspace

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
