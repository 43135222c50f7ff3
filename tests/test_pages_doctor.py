"""The training doctor on the pages (AppTest): a collapsed run is a problem, not a success,
and "Try this" queues the corrected run and opens the pair on Compare."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.data.registry import load_dataset
from cnn_core.models.evaluate import summarize
from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.store import runs
from tests.apptest_support import (
    assert_no_exception,
    launches_without_a_worker,
    open_with_query,
)
from tests.journey_runs import SMALL_CNN
from tests.run_factory import finished_run, history, make_run


def collapsed_run() -> runs.RunFolder:
    """A finished SGD run at learning rate 1.0 that calls every test image class 4."""
    config = TrainConfig(
        model=SMALL_CNN,
        optimizer=OptimizerSpec("sgd", 1.0, "constant"),
        fit=FitSpec(epochs=2),
        name="lr one",
    )
    folder = make_run(config, epochs=history(2), model="untrained", train_seconds=3.0)
    dataset = load_dataset("mnist")
    probs = np.full((len(dataset.y_test), 10), 0.001, np.float32)
    probs[:, 4] = 0.991
    folder.save_evaluation(
        summarize(probs, dataset.y_test, list("0123456789")), probs, dataset.y_test
    )
    return folder


def test_evaluate_shows_a_collapsed_run_as_a_problem_and_retries_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launched = launches_without_a_worker(monkeypatch)
    folder = collapsed_run()
    at = open_with_query("pages/evaluate.py", run=folder.run_id)
    problems = [e.value for e in at.error]
    assert any("collapsed to one class" in p and "predicted '4'" in p for p in problems)
    button = at.button(key="eval_doctor_try_0")
    assert "learning rate 1 -> 0.1" in button.label
    button.click().run()
    assert_no_exception(at)
    (retry,) = launched
    config = retry.read_config()
    assert config.optimizer.learning_rate == 0.1 and config.seed == 42
    assert config.name == "lr one · learning rate 1 -> 0.1"


def test_compare_shows_each_runs_findings(isolated_store) -> None:
    collapsed = collapsed_run()
    other = finished_run(TrainConfig(model=SMALL_CNN, name="other"))
    at = open_with_query("pages/compare.py", runs=f"{collapsed.run_id},{other.run_id}")
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert any(":red-badge[" in b and "collapsed to one class" in b for b in badges)


def test_train_never_shows_a_collapsed_run_as_a_green_success(isolated_store) -> None:
    from tests.apptest_support import open_app

    folder = collapsed_run()
    at = open_app("pages/train.py")
    at.selectbox(key="train_monitor_run").set_value(folder.run_id).run()
    assert_no_exception(at)
    assert not [s.value for s in at.success if "Test accuracy" in s.value]
    assert any("collapsed to one class" in e.value for e in at.error)
    assert at.button(key="train_doctor_try_0").label.startswith("Try this: learning rate")
