"""AppTest of the Runs page, the Train page's config export, and `?run=` links."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.schema.config import PRESETS, ModelSpec, TrainConfig
from cnn_core.schema.records import RunNotes, RunState
from cnn_core.sharing import bundles
from cnn_core.store import access
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.runs import list_runs, load_run
from tests.apptest_support import (
    APP,
    TIMEOUT_S,
    assert_no_exception,
    open_app,
    open_with_query,
    texts,
)
from tests.run_factory import untrained_model_run as model_run

PAGE = "pages/runs.py"
SOFTMAX: ModelSpec = PRESETS["Softmax regression"]


def open_runs() -> AppTest:
    return open_app(PAGE)


def open_linked(page: str, run_id: str, **extra: str) -> AppTest:
    """`page` opened from a link carrying ?run=<run_id> (and `extra` parameters)."""
    return open_with_query(page, run=run_id, **extra)


def test_empty_store_says_how_to_start() -> None:
    at = open_runs()
    assert "No runs yet" in texts(at)
    assert at.file_uploader(key="runs_import_file") is not None


def test_filters_narrow_the_table() -> None:
    digits = RunFolder(model_run(SOFTMAX, "digits"))
    access.save_notes(digits, RunNotes.create(["keep"]))
    model_run(SOFTMAX, "clothes", "fashion_mnist")
    at = open_runs()
    assert len(at.dataframe[0].value) == 2
    at.multiselect(key="runs_filter_tag").select("keep").run()
    table = at.dataframe[0].value
    assert list(table["name"]) == ["digits"] and list(table["tags"]) == ["keep"]
    assert "1 of 2 runs" in texts(at)
    at.multiselect(key="runs_filter_dataset").select("fashion_mnist").run()
    assert len(at.dataframe[0].value) == 0
    assert_no_exception(at)


def test_rename_tag_and_note_a_run() -> None:
    folder = RunFolder(model_run(SOFTMAX, "before"))
    at = open_runs()
    at.text_input(key=f"runs_name_{folder.run_id}").input("after")
    at.text_input(key=f"runs_tags_{folder.run_id}").input("Baseline, cpu")
    at.text_area(key=f"runs_notes_{folder.run_id}").input("works")
    at.button(key="runs_save").click().run()
    assert_no_exception(at)
    run = load_run(folder.path)
    assert run.config.name == "after"
    assert run.notes == RunNotes(("baseline", "cpu"), "works")
    assert "after" in texts(at)


def test_a_bad_tag_is_a_message_and_changes_nothing() -> None:
    folder = RunFolder(model_run(SOFTMAX, "kept"))
    at = open_runs()
    at.text_input(key=f"runs_name_{folder.run_id}").input("renamed")
    at.text_input(key=f"runs_tags_{folder.run_id}").input("a/b")
    at.button(key="runs_save").click().run()
    assert_no_exception(at)
    assert any("letters, digits" in e.value for e in at.error)
    assert load_run(folder.path).config.name == "kept"


def test_delete_asks_first() -> None:
    keep = RunFolder(model_run(SOFTMAX, "keep"))
    gone = RunFolder(model_run(SOFTMAX, "gone"))
    at = open_runs()
    at.selectbox(key="runs_selected").select(gone.run_id).run()
    at.button(key="runs_delete").click().run()
    assert "cannot be undone" in texts(at) and gone.path.exists()
    at.button(key="runs_delete_cancel").click().run()
    assert gone.path.exists() and "cannot be undone" not in texts(at)
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert_no_exception(at)
    assert not gone.path.exists() and keep.path.exists()
    assert at.selectbox(key="runs_selected").value == keep.run_id


def test_tflite_conversion_shows_the_check_and_offers_the_file() -> None:
    model_run(SOFTMAX, "lite")
    at = open_runs()
    at.button(key="runs_tflite_convert").click().run()
    assert_no_exception(at)
    check = texts(at)
    assert "Checked on 64 test images" in check and ":material/check_circle:" in check
    assert at.get("download_button")  # .keras, bundle and .tflite
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Model (.tflite)" in labels and "Model (.keras)" in labels


def test_import_a_bundle_and_refuse_a_bad_one(isolated_store: Path) -> None:
    source = RunFolder(model_run(SOFTMAX, "travels"))
    data = bundles.export_bundle(source)
    at = open_runs()
    at.file_uploader(key="runs_import_file").set_value(("run.zip", b"not a zip", "application/zip"))
    at.run()
    at.button(key="runs_import").click().run()
    assert_no_exception(at)
    assert any("not imported" in e.value and "not a zip" in e.value for e in at.error)
    assert len(list_runs()) == 1
    at.file_uploader(key="runs_import_file").set_value(("run.zip", data, "application/zip"))
    at.run()
    at.button(key="runs_import").click().run()
    assert_no_exception(at)
    ids = {r.run_id for r in list_runs()}
    (new_id,) = ids - {source.run_id}
    assert f"Imported as run `{new_id}`" in texts(at)
    assert at.selectbox(key="runs_selected").value == new_id
    assert load_run(isolated_store / new_id).config.name == "travels"


@pytest.mark.parametrize(
    ("page", "key"),
    [
        ("pages/evaluate.py", "eval_run"),
        ("pages/predict.py", "predict_run"),
        ("pages/inside.py", "inside_run"),
    ],
)
def test_a_run_link_opens_that_run(page: str, key: str) -> None:
    linked = model_run(SOFTMAX, "linked").name
    model_run(SOFTMAX, "newer")  # the default choice without a link
    at = open_linked(page, linked, ws="abc123")
    assert at.selectbox(key=key).value == linked
    assert at.query_params["run"] == linked
    assert at.query_params["ws"] == "abc123"  # other parameters are kept


@pytest.mark.parametrize(
    ("run_id", "message"),
    [
        ("20260101-000000-mnist-cnn-dead", "is not here"),
        ("../../etc/passwd", "not a valid run id"),
        ("x" * 500, "not a valid run id"),
    ],
)
def test_an_unknown_or_malformed_link_is_a_message(run_id: str, message: str) -> None:
    there = model_run(SOFTMAX, "there").name
    at = open_linked("pages/evaluate.py", run_id)
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.selectbox(key="eval_run").value == there
    assert at.query_params["run"] == there  # the address now names what is shown


def test_a_link_to_a_run_without_a_model_says_why() -> None:
    there = model_run(SOFTMAX, "there").name
    queued = create_run(TrainConfig(name="waiting"))  # no worker yet: still starting
    at = open_linked("pages/evaluate.py", queued.run_id)
    assert any(f"`{queued.run_id}` is still training" in w.value for w in at.warning)
    queued.write_status(RunState.FAILED, message="boom")
    at = open_linked("pages/inside.py", queued.run_id)
    assert any(f"`{queued.run_id}` has no saved model" in w.value for w in at.warning)
    assert at.query_params["run"] == there


def test_choosing_a_run_updates_the_link() -> None:
    first = model_run(SOFTMAX, "first").name
    second = model_run(SOFTMAX, "second").name
    at = open_linked("pages/predict.py", first)
    at.selectbox(key="predict_run").select(second).run()
    assert_no_exception(at)
    assert at.query_params["run"] == second
    assert not at.warning


def test_runs_page_offers_links_to_the_run_pages() -> None:
    folder = RunFolder(model_run(SOFTMAX, "linked"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.query_params["ws"] = "abc123"
    at.run()
    at.switch_page(PAGE).run()
    links = at.get("page_link")
    assert {link.proto.label for link in links} == {"Evaluate", "Inside the CNN", "Predict"}
    for link in links:
        query = dict(pair.split("=") for pair in link.proto.query_string.split("&"))
        assert query == {"run": folder.run_id, "ws": "abc123"}


def test_a_training_run_offers_no_downloads() -> None:
    folder = RunFolder(model_run(SOFTMAX, "busy"))
    folder.write_status(RunState.RUNNING, pid=__import__("os").getpid())
    at = open_runs()
    assert "Downloads are offered once the run has ended" in texts(at)
    assert not at.get("download_button")


def test_train_page_exports_its_config() -> None:
    at = open_app("pages/train.py")
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Export config (JSON)" in labels


def test_run_tables_show_unknown_accuracy_as_a_dash_and_sort_by_number(isolated_store) -> None:
    from cnn_core.insight.labels import run_row
    from cnn_core.schema.config import TrainConfig
    from pages._shared.common import run_table

    queued = load_run(create_run(TrainConfig(name="waiting")).path)
    styled = run_table([run_row(queued)])
    html = styled.to_html()
    assert "None" not in html and "–" in html
    assert styled.data["test acc"].dtype.kind == "f"  # numbers underneath: sorting works


def test_a_vgg16_run_says_where_its_weights_came_from() -> None:
    from cnn_core.models.vgg16 import vgg16_spec
    from cnn_core.schema.config import TrainConfig

    spec = vgg16_spec("feature_extraction", weights="file", weights_file="/w/my_vgg16.h5")
    folder = create_run(TrainConfig(dataset="cifar10", model=spec, name="from file"))
    folder.write_status(RunState.COMPLETED, weights_source="my_vgg16.h5 · 58.9 MB · sha256 ab12")
    at = open_linked(PAGE, folder.run_id)
    assert_no_exception(at)
    page = texts(at)
    assert "VGG16 weights: my\\_vgg16\\.h5 · 58\\.9 MB · sha256 ab12" in page
    table = next(f.value for f in at.dataframe if "model" in f.value.columns)
    assert "VGG16 feature extraction, 32 px (weights: my_vgg16.h5)" in list(table["model"])


def test_every_run_table_shows_a_dash_not_none_for_a_missing_accuracy(isolated_store) -> None:
    from cnn_core.schema.config import TrainConfig
    from tests.apptest_support import open_app

    create_run(TrainConfig(name="waiting"))  # queued: no accuracy yet
    for page in (None, "pages/runs.py", "pages/compare.py"):
        at = open_app(page)
        table = next(f for f in at.dataframe if "run id" in f.value.columns)
        assert table.proto.placeholder == "–", page
