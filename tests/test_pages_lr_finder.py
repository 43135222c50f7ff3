"""The learning-rate finder on the Train page (AppTest): cost, run, curve, "Use this rate"."""

from __future__ import annotations

import json

import pytest

from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.folder import LrTestFolder
from cnn_core.store.lr_tests import create_lr_test, list_lr_tests
from cnn_core.store.runs import list_runs, load_run
from cnn_core.training.lr_finder import read_result
from pages._shared.lr_finder_view import TEST
from tests.apptest_support import assert_no_exception, open_app, texts
from tests.waiting import wait_for


@pytest.mark.slow
def test_the_finder_runs_shows_its_curve_and_fills_the_rate() -> None:
    at = open_app("pages/train.py")
    at.radio(key="train_kind").set_value("softmax").run()
    at.number_input(key="train_batch").set_value(9).run()
    # 600 synthetic images, 60 held out: 540 in batches of 9.
    assert "at most 60 batches of 9 images" in texts(at)
    at.button(key="lrfind_start").click().run()
    assert_no_exception(at)
    (test,) = list_lr_tests()
    assert at.session_state[TEST] == test.run_id
    assert at.get("progress")  # its progress bar, polled while the test runs
    wait_for(lambda: not load_run(test.path).active, timeout=240, what="the range test")
    at.run()
    assert_no_exception(at)
    result = read_result(LrTestFolder(test.path))
    assert result is not None and result.suggestion is not None
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id and "lrfind_chart" in c.proto.id]
    figure = json.loads(chart.proto.spec)
    assert figure["layout"]["xaxis"]["type"] == "log"
    assert f"Suggested rate **{result.suggestion.rate:g}**" in texts(at)
    assert at.number_input(key="train_lr").value == 0.001  # untouched until asked
    at.button(key="lrfind_use").click().run()
    assert_no_exception(at)
    assert at.number_input(key="train_lr").value == result.suggestion.rate
    assert at.button(key="lrfind_use").disabled  # the form holds it now
    assert list_runs() == []  # the test is no training run
    # A new session (a refresh) with the same setup finds the finished test again.
    later = open_app("pages/train.py")
    later.radio(key="train_kind").set_value("softmax").run()
    assert not any("Suggested rate" in t for t in texts(later).splitlines())  # not this model
    later.number_input(key="train_batch").set_value(9).run()
    assert f"Suggested rate **{result.suggestion.rate:g}**" in texts(later)


def test_cancel_stops_the_test_and_says_so() -> None:
    at = open_app("pages/train.py")
    at.radio(key="train_kind").set_value("softmax").run()
    at.button(key="lrfind_start").click().run()
    at.button(key="lrfind_cancel").click().run()
    assert_no_exception(at)
    (test,) = list_lr_tests()
    wait_for(lambda: not load_run(test.path).active, timeout=240, what="the test to stop")
    assert load_run(test.path).state == RunState.STOPPED
    at.run()
    assert "The learning-rate test was cancelled" in texts(at)
    assert not [c for c in at.get("plotly_chart") if "lrfind_chart" in (c.proto.id or "")]


def test_settings_the_validator_refuses_keep_the_finder_off() -> None:
    at = open_app("pages/train.py")
    at.number_input(key="train_batch").set_value(0).run()
    assert at.button(key="lrfind_start").disabled
    assert any("batch size must be between 1 and 4096" in e.value for e in at.error)
    assert "fix them first" in texts(at)
    assert list_lr_tests() == []


def test_vgg16_says_why_the_finder_does_not_test_it() -> None:
    at = open_app("pages/train.py")
    at.radio(key="train_kind").set_value("vgg16").run()
    assert_no_exception(at)
    assert "VGG16 run trains its head on cached base features" in texts(at)
    assert not [b for b in at.button if b.key == "lrfind_start"]


def stored_test(state: RunState, **fields: object) -> LrTestFolder:
    folder = create_lr_test(TrainConfig())
    folder.write_status(state, **fields)
    return folder


def test_a_killed_test_is_reported_as_interrupted_not_running() -> None:
    folder = stored_test(RunState.RUNNING, pid=999_999_999)  # no such process
    at = open_app("pages/train.py")
    at.session_state[TEST] = folder.run_id
    at.run()
    assert_no_exception(at)
    assert "The learning-rate test was interrupted" in texts(at)
    assert not at.get("progress")


def test_a_failed_test_shows_its_message() -> None:
    folder = stored_test(RunState.FAILED, message="not enough memory to train this run")
    at = open_app("pages/train.py")
    at.session_state[TEST] = folder.run_id
    at.run()
    errors = [e.value for e in at.error]
    assert "The learning-rate test failed: not enough memory to train this run" in errors
