"""Private workspaces: each visitor sees and controls only their own runs.

The attacks tried here are the ones a visitor can make without a shell: another
workspace's run id (or a path-like id) in a URL or a form value, another
workspace's id, and a public run they may read but never change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.base import settings, workspace
from cnn_core.base.errors import UserError
from cnn_core.schema.config import TrainConfig
from cnn_core.store import access
from cnn_core.store.access import delete_run, model_runs
from cnn_core.store.folder import RunFolder, create_run, run_folder, runs_root
from cnn_core.store.runs import list_runs
from cnn_core.training import worker
from tests.apptest_support import APP, TIMEOUT_S, assert_no_exception, open_with_query
from tests.run_factory import make_run

ALICE = workspace.new_workspace_id()
BOB = workspace.new_workspace_id()


class Visitor:
    """Which workspace the code under test sees as current (the resolver's answer)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.workspace: str | None = None
        monkeypatch.setenv(settings.PRIVATE_WORKSPACES, "1")
        monkeypatch.setattr(workspace, "_resolver", lambda: self.workspace)

    def __call__(self, workspace: str | None) -> Visitor:
        self.workspace = workspace
        return self


@pytest.fixture
def visitor(monkeypatch: pytest.MonkeyPatch) -> Visitor:
    return Visitor(monkeypatch)


def finished_run(name: str, public: bool = False) -> RunFolder:
    """A completed run of the current workspace with a (placeholder) model file."""
    folder = make_run(TrainConfig(name=name))
    folder.model_path.write_bytes(b"model")
    if public:
        access.set_public(folder, True)
    return folder


def test_without_the_setting_there_is_one_workspace_the_store(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.PRIVATE_WORKSPACES, raising=False)
    monkeypatch.setattr(workspace, "_resolver", lambda: ALICE)  # ignored without the setting
    folder = finished_run("legacy")
    assert folder.path.parent == isolated_store.resolve()  # runs/<id>/ exactly as before
    assert [r.run_id for r in list_runs()] == [folder.run_id]
    access.check_editable(folder)  # without the setting every run of the store is one's own
    assert workspace.data_folder(Path("/data")) == Path("/data")


def test_each_workspace_lists_only_its_own_runs(isolated_store: Path, visitor: Visitor) -> None:
    visitor(ALICE)
    alice_run = finished_run("alice's")
    assert alice_run.path.parent == isolated_store.resolve() / ".workspaces" / ALICE
    visitor(BOB)
    bob_run = finished_run("bob's")
    assert [r.run_id for r in list_runs()] == [bob_run.run_id]
    assert alice_run.run_id not in [r.run_id for r in model_runs()]
    visitor(ALICE)
    assert [r.run_id for r in list_runs()] == [alice_run.run_id]
    # The store's own listing never mistakes the workspaces folder for a run.
    visitor(None)
    assert list_runs() == []


def test_a_foreign_run_id_cannot_be_stopped_read_or_shared(
    isolated_store: Path, visitor: Visitor
) -> None:
    visitor(ALICE)
    alice_run = create_run(TrainConfig(name="training"))
    visitor(BOB)
    for attempt in (alice_run.run_id, f"../.workspaces/{ALICE}/{alice_run.run_id}", ALICE):
        with pytest.raises(UserError, match="no run|not a valid run id"):
            access.request_stop(run_folder(attempt))
        with pytest.raises(UserError, match="no run|not a valid run id"):
            access.readable_run(attempt)
    assert not run_folder(alice_run.run_id).path.exists()  # not in Bob's folder
    with pytest.raises(UserError, match="not one of this workspace's runs"):
        access.set_public(alice_run, True)  # a folder handed in (e.g. from a bundle)
    assert not alice_run.stop_path.exists() and not alice_run.public_path.exists()
    visitor(ALICE)
    access.request_stop(run_folder(alice_run.run_id))  # the owner can
    assert alice_run.stop_requested()


def test_a_public_run_is_shared_read_only(isolated_store: Path, visitor: Visitor) -> None:
    visitor(ALICE)
    shared = finished_run("shared", public=True)
    private = finished_run("private")
    visitor(BOB)
    visible = [r.run_id for r in model_runs()]
    assert shared.run_id in visible and private.run_id not in visible
    assert visible[-1] == "mnist-starter"  # the starter model is everyone's
    assert access.readable_run(shared.run_id).path == shared.path
    assert access.readable_run("mnist-starter").starter
    with pytest.raises(UserError, match="no run"):
        access.readable_run(private.run_id)
    with pytest.raises(UserError, match="no run"):
        access.request_stop(run_folder(shared.run_id))  # not in Bob's folder
    with pytest.raises(UserError, match="never changed"):
        access.require_owner(shared)
    with pytest.raises(UserError, match="never changed"):
        access.set_public(shared, False)
    assert shared.public_path.is_file()
    with pytest.raises(UserError, match="never changed"):
        access.require_owner(access.readable_run("mnist-starter"))
    visitor(ALICE)
    access.set_public(shared, False)
    visitor(BOB)
    assert shared.run_id not in [r.run_id for r in model_runs()]


def test_a_hostile_workspace_id_is_refused(isolated_store: Path, visitor: Visitor) -> None:
    for hostile in ("../../etc", "a" * 10, ALICE + "/..", ".workspaces"):
        visitor(hostile)
        with pytest.raises(UserError, match="not a valid workspace id"):
            runs_root()
    assert not workspace.valid_workspace_id(None)


def test_queued_runs_are_capped_per_workspace(
    isolated_store: Path, visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_WORKSPACE_MAX_QUEUED", "2")
    monkeypatch.setattr(worker, "start_worker", lambda folder: None)  # no processes here
    visitor(ALICE)
    for seed in (1, 2):
        worker.launch_run(TrainConfig(seed=seed))
    with pytest.raises(UserError, match="2 runs are already waiting"):
        worker.launch_run(TrainConfig(seed=3))
    visitor(BOB)  # another workspace is not starved by Alice's queue
    folder, created = worker.launch_run(TrainConfig(seed=3))
    assert created and folder.path.parent.name == BOB
    # Training slots stay global: every workspace's workers lock the same ones.
    assert workspace.store_of(folder.path.parent) == isolated_store.resolve()


def test_uploaded_data_is_per_workspace_and_capped(
    tmp_path: Path, visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_WORKSPACE_DATA_MB", "1")
    visitor(ALICE)
    folder = workspace.data_folder(tmp_path)
    assert folder == tmp_path / ".workspaces" / ALICE
    folder.mkdir(parents=True)
    (folder / "images.zip").write_bytes(b"\0" * 700_000)
    workspace.check_data_quota(tmp_path, 300_000)
    with pytest.raises(UserError, match="1 MB of uploaded data"):
        workspace.check_data_quota(tmp_path, 400_000)
    visitor(BOB)
    workspace.check_data_quota(tmp_path, 1_000_000)  # Bob's folder is empty


def test_url_workspace_scopes_the_pages(
    isolated_store: Path, visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor(ALICE)
    alice_run = finished_run("alice only")
    visitor(None)  # from here the app resolves the workspace from the URL itself
    try:
        at = open_with_query("pages/train.py", ws=ALICE)
        assert at.selectbox(key="train_monitor_run").value == alice_run.run_id
        assert any("Bookmark this link" in c.value and ALICE in c.value for c in at.caption)

        at = open_with_query("pages/train.py", ws=BOB)
        assert "alice only" not in str([s.options for s in at.selectbox])
        # A form value naming Alice's run is not honoured either.
        at.session_state["train_monitor_run"] = alice_run.run_id
        at.run()
        assert_no_exception(at)
        assert alice_run.run_id not in str([s.value for s in at.selectbox])

        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        at.query_params["ws"] = "../../etc"
        at.run()  # Home
        assert_no_exception(at)
        assert any("not valid" in w.value for w in at.warning)
        fresh = at.query_params["ws"]
        fresh = fresh[0] if isinstance(fresh, list) else fresh
        assert workspace.valid_workspace_id(fresh) and fresh not in (ALICE, BOB)
    finally:
        workspace.set_resolver(None)


def _page_that_forgets_its_workspace() -> None:
    """A page that reads the run store without choosing the session's workspace."""
    import streamlit as st

    from cnn_core.base import workspace
    from cnn_core.base.errors import UserError
    from pages._shared.workspace_session import _session_workspace

    workspace.set_resolver(_session_workspace)  # registered earlier by another session
    try:
        st.write(f"root: {workspace.current_root()}")
    except UserError as error:
        st.error(str(error))


def test_a_page_that_forgets_the_workspace_sees_no_store(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.PRIVATE_WORKSPACES, "1")
    try:
        at = AppTest.from_function(_page_that_forgets_its_workspace, default_timeout=TIMEOUT_S)
        at.run()
        assert [e.value for e in at.error] == [
            "this page did not choose a workspace: open it from the app's menu"
        ]
        assert not any("root:" in m.value for m in at.markdown)
    finally:
        workspace.set_resolver(None)


def test_every_page_gets_the_workspace_from_the_app_entry(
    isolated_store: Path, visitor: Visitor
) -> None:
    visitor(ALICE)
    alice_run = finished_run("alice via app")
    visitor(None)
    try:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        at.query_params["ws"] = ALICE
        at.run()  # Home, through app.py's navigation
        assert_no_exception(at)
        assert sum("Bookmark this link" in c.value for c in at.caption) == 1
        at.switch_page("pages/runs.py").run()
        assert_no_exception(at)
        assert sum("Bookmark this link" in c.value for c in at.caption) == 1  # chosen once
        assert "alice via app" in str([s.options for s in at.selectbox])
        assert at.selectbox[0].value == alice_run.run_id
    finally:
        workspace.set_resolver(None)


def test_the_owner_makes_a_run_public_on_the_train_page(
    isolated_store: Path, visitor: Visitor
) -> None:
    visitor(ALICE)
    run = finished_run("to share")
    visitor(None)
    try:
        at = open_with_query("pages/train.py", ws=ALICE)
        toggle = at.toggle(key=f"train_public_{run.run_id}")
        assert toggle.value is False
        toggle.set_value(True).run()
        assert_no_exception(at)
        assert run.public_path.is_file()
    finally:
        workspace.set_resolver(lambda: BOB)  # the fixture restores the original at teardown
    assert run.run_id in [r.run_id for r in model_runs()]


def test_a_shared_run_cannot_be_renamed_tagged_or_deleted_by_another_workspace(
    isolated_store: Path, visitor: Visitor
) -> None:
    from cnn_core.schema.records import RunNotes

    visitor(ALICE)
    shared = finished_run("shared", public=True)
    visitor(BOB)
    seen = access.readable_run(shared.run_id)  # Bob may view it...
    for change in (
        lambda: access.rename_run(seen, "mine now"),
        lambda: access.save_notes(seen, RunNotes(tags=("taken",))),
        lambda: delete_run(seen),
    ):
        with pytest.raises(UserError, match="never changed"):  # ...never change it
            change()
    assert shared.path.is_dir() and shared.read_config().name == "shared"
    assert not shared.notes_path.exists()
    visitor(ALICE)
    access.rename_run(shared, "still Alice's")
    assert shared.read_config().name == "still Alice's"


def test_imported_image_datasets_belong_to_their_workspace(
    tmp_path: Path, visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnn_core.data.user.importer import import_server_folder
    from cnn_core.data.user.options import ImageOptions
    from cnn_core.data.user.places import dataset_folder
    from cnn_core.data.user.store import delete_dataset, list_user_datasets
    from scripts.shape_images import write_shapes

    data = tmp_path / "data"
    monkeypatch.setenv("CNN_DATA_DIR", str(data))
    write_shapes(data / "shapes", per_class=12, size=40)
    options = ImageOptions(side=32, validation=0.25)
    visitor(ALICE)
    key = import_server_folder("alice shapes", "shapes", options)
    assert key in list_user_datasets()
    alice_folder = dataset_folder(key)
    visitor(BOB)
    assert key not in list_user_datasets()  # Bob does not see Alice's data
    with pytest.raises(UserError, match="belongs to a workspace"):
        import_server_folder("stolen", str(alice_folder.parent), options)
    monkeypatch.setenv("CNN_WORKSPACE_DATA_MB", "0")
    with pytest.raises(UserError, match="MB of uploaded data"):
        import_server_folder("bob shapes", "shapes", options)
    assert list_user_datasets() == {}  # the refused import left nothing
    with pytest.raises(UserError, match="no dataset"):
        delete_dataset(key)  # nor delete it
    visitor(ALICE)
    assert key in list_user_datasets()
    delete_dataset(key)
    assert key not in list_user_datasets() and not alice_folder.exists()
