"""Journeys across pages (AppTest): what a person does between pages, not one page alone.

The Train form survives leaving and coming back (and training twice); the run a
person chose follows them to the other run pages; a finished run on Train links
to the pages that show it.
"""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.insight.labels import run_label
from cnn_core.schema.config import PRESETS, ModelSpec, TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.folder import create_run, run_folder
from cnn_core.store.processes import process_start_time
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
from tests.waiting import wait_for

SOFTMAX: ModelSpec = PRESETS["Softmax regression"]
# (widget kind, key, value): a change to every part of the Train form
FORM_CHANGES = [
    ("selectbox", "train_dataset", "fashion_mnist"),
    ("number_input", "train_val_fraction", 0.2),
    ("number_input", "train_n_blocks", 1),
    ("number_input", "conv0_filters", 8),
    ("checkbox", "conv0_bn", True),
    ("number_input", "train_n_dense", 1),
    ("number_input", "dense0_units", 16),
    ("selectbox", "train_optimizer", "sgd"),
    ("number_input", "train_momentum", 0.8),
    ("number_input", "train_lr", 0.01),
    ("number_input", "train_batch", 32),
    ("number_input", "train_epochs", 1),
    ("checkbox", "train_early", False),
    ("number_input", "train_seed", 7),
    ("text_input", "train_name", "kept"),
    ("slider", "train_aug_rotation", 0.1),
]


def widget(at: AppTest, kind: str, key: str):
    return getattr(at, kind)(key=key)


def change_form(at: AppTest) -> None:
    for kind, key, value in FORM_CHANGES:
        element = widget(at, kind, key)
        (element.select(value) if kind == "selectbox" else element.set_value(value)).run()
        assert_no_exception(at)


def assert_form_kept(at: AppTest, **changed: object) -> None:
    shown = {key: widget(at, kind, key).value for kind, key, _ in FORM_CHANGES}
    assert shown == {key: value for _, key, value in FORM_CHANGES} | changed


def leave_and_return(at: AppTest, page: str = "pages/train.py") -> None:
    """Open another page from the sidebar (which drops the URL's query), then `page`."""
    at.query_params.clear()
    at.switch_page("pages/runs.py").run()
    assert_no_exception(at)
    at.switch_page(page).run()
    assert_no_exception(at)


def finish(at: AppTest, run_id: str) -> None:
    wait_for(lambda: not load_run(run_folder(run_id).path).active, 180, "the run")
    at.run()
    assert_no_exception(at)


@pytest.mark.slow
def test_train_form_survives_leaving_and_two_runs_in_one_session() -> None:
    at = open_app("pages/train.py")
    change_form(at)
    leave_and_return(at)
    assert_form_kept(at)

    at.button(key="train_start").click().run()
    (first,) = list_runs()
    assert first.config.name == "kept" and first.config.dataset == "fashion_mnist"
    assert first.config.optimizer.name == "sgd" and first.config.augment.rotation == 0.1
    leave_and_return(at)
    assert_form_kept(at)
    assert at.selectbox(key="train_monitor_run").value == first.run_id
    finish(at, first.run_id)
    assert at.button(key="train_compare_go") is not None  # the finished view's buttons

    leave_and_return(at)  # with the finished view's buttons in the session
    at.number_input(key="train_seed").set_value(8).run()  # the same setup twice is one run
    at.button(key="train_start").click().run()
    assert_no_exception(at)
    second = list_runs()[0]
    assert second.run_id != first.run_id
    finish(at, second.run_id)
    leave_and_return(at)
    assert_form_kept(at, train_seed=8)
    assert "Test accuracy" in texts(at)
    assert at.get("plotly_chart"), "the second run's curves are shown"


def test_vgg16_options_survive_leaving_the_train_page() -> None:
    at = open_app("pages/train.py")
    at.radio(key="train_kind").set_value("vgg16").run()
    at.radio(key="train_vgg_weights").set_value("none").run()
    at.radio(key="train_vgg_mode").set_value("fine_tune").run()
    at.number_input(key="train_vgg_units").set_value(64).run()
    at.number_input(key="train_vgg_ft_epochs").set_value(3).run()
    at.checkbox(key="train_vgg_cache").set_value(False).run()
    leave_and_return(at)
    assert at.radio(key="train_kind").value == "vgg16"
    assert at.radio(key="train_vgg_weights").value == "none"
    assert at.radio(key="train_vgg_mode").value == "fine_tune"
    assert at.number_input(key="train_vgg_units").value == 64
    assert at.number_input(key="train_vgg_ft_epochs").value == 3
    assert at.checkbox(key="train_vgg_cache").value is False


def test_the_dataset_chosen_on_one_page_follows_to_the_other() -> None:
    at = open_app("pages/data.py")
    at.selectbox(key="data_dataset").select("cifar10").run()
    at.switch_page("pages/train.py").run()
    assert at.selectbox(key="train_dataset").value == "cifar10"
    at.selectbox(key="train_dataset").select("fashion_mnist").run()
    leave_and_return(at, "pages/data.py")
    assert at.selectbox(key="data_dataset").value == "fashion_mnist"
    assert_no_exception(at)


# -- the run a person chose follows them --------------------------------------------


@pytest.fixture
def two_runs() -> tuple[str, str]:
    """(older, newer) run ids with models; pages default to the newer."""
    older = model_run(SOFTMAX, "older run").name
    newer = model_run(SOFTMAX, "newer run").name
    return older, newer


RUN_PICKERS = {
    "pages/evaluate.py": "eval_run",
    "pages/inside.py": "inside_run",
    "pages/predict.py": "predict_run",
}


def assert_follows(at: AppTest, run_id: str, pages: list[str]) -> None:
    for page in pages:
        at.query_params.clear()  # opened from the sidebar, not a link
        at.switch_page(page).run()
        assert_no_exception(at)
        assert at.selectbox(key=RUN_PICKERS[page]).value == run_id, page


def test_the_run_chosen_on_evaluate_follows_to_inside_and_predict(
    two_runs: tuple[str, str],
) -> None:
    older, newer = two_runs
    at = open_app("pages/evaluate.py")
    assert at.selectbox(key="eval_run").value == newer  # the default: the newest
    at.selectbox(key="eval_run").select(older).run()
    assert_follows(at, older, ["pages/inside.py", "pages/predict.py", "pages/evaluate.py"])


def test_a_run_link_becomes_the_session_run_and_a_later_link_wins(
    two_runs: tuple[str, str],
) -> None:
    older, newer = two_runs
    at = open_with_query("pages/inside.py", run=older)
    assert at.selectbox(key="inside_run").value == older
    assert_follows(at, older, ["pages/predict.py", "pages/evaluate.py"])
    at.query_params["run"] = newer  # a link to the other run, on a page seen before
    at.switch_page("pages/inside.py").run()
    assert at.selectbox(key="inside_run").value == newer
    assert_follows(at, newer, ["pages/evaluate.py"])


def test_the_train_monitor_watches_the_session_run_and_a_choice_there_follows(
    two_runs: tuple[str, str],
) -> None:
    older, _ = two_runs
    at = open_with_query("pages/evaluate.py", run=older)
    at.query_params.clear()
    at.switch_page("pages/train.py").run()
    assert at.selectbox(key="train_monitor_run").value == older
    at.selectbox(key="train_monitor_run").select(two_runs[1]).run()
    assert_follows(at, two_runs[1], ["pages/predict.py"])


def test_runs_page_picker_labels_runs_like_the_other_pickers(two_runs) -> None:
    at = open_app("pages/runs.py")
    picker = at.selectbox(key="runs_selected")
    expected = [run_label(load_run(run_folder(i).path)) for i in reversed(two_runs)]
    assert picker.options == expected
    assert "older run" in picker.options[1]


# -- the finished view on Train links to the run's pages ---------------------------


def query_of(link) -> dict[str, str]:
    return dict(pair.split("=") for pair in link.proto.query_string.split("&"))


def test_a_finished_run_on_train_links_to_its_pages_which_open_it(
    two_runs: tuple[str, str],
) -> None:
    older, _ = two_runs
    folder = run_folder(older)
    folder.write_status(RunState.COMPLETED, train_seconds=1.0)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.query_params["ws"] = "abc123"  # kept in the links, as the Runs page keeps it
    at.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_monitor_run").select(older).run()
    links = {link.proto.label: link for link in at.get("page_link")}
    assert set(links) == {"Evaluate", "Inside the CNN", "Predict", "Compare"}
    assert query_of(links["Compare"]) == {"runs": older, "ws": "abc123"}
    for label, page in zip(["Evaluate", "Inside the CNN", "Predict"], RUN_PICKERS, strict=True):
        assert query_of(links[label]) == {"run": older, "ws": "abc123"}
        assert links[label].proto.page.endswith(page.split("/")[1].removesuffix(".py"))
        opened = open_with_query(page, run=older)
        assert opened.selectbox(key=RUN_PICKERS[page]).value == older
    compare = open_with_query("pages/compare.py", runs=older)
    assert compare.selectbox(key="compare_base").value == older


def test_the_runs_page_says_a_run_is_stopping() -> None:
    folder = create_run(TrainConfig(model=SOFTMAX, name="asked to stop"))
    pid = os.getpid()  # a live process stands in for the worker
    folder.write_status(RunState.RUNNING, pid=pid, pid_start=process_start_time(pid))
    at = open_app("pages/runs.py")
    assert "stopping…" not in texts(at)
    folder.request_stop()
    at.run()
    assert "asked to stop** · :orange-badge[:material/stop_circle: stopping…]" in texts(at)
