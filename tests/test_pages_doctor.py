"""The training doctor on the pages (AppTest): a collapsed run is a problem, not a success,
and "Try this" queues the corrected run and opens the pair on Compare."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.data.registry import load_dataset
from cnn_core.models.evaluate import summarize
from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.runs import load_run
from pages._shared import doctor_view
from tests.apptest_support import (
    assert_no_exception,
    launches_without_a_worker,
    open_with_query,
)
from tests.journey_runs import SMALL_CNN
from tests.run_factory import finished_run, history, make_run


def collapsed_run(collapsed: bool = True) -> RunFolder:
    """A finished SGD run at learning rate 1.0 that calls every test image class 4
    (with `collapsed=False`: a run that gets every test image right)."""
    config = TrainConfig(
        model=SMALL_CNN,
        optimizer=OptimizerSpec("sgd", 1.0, "constant"),
        fit=FitSpec(epochs=2),
        name="lr one" if collapsed else "all right",
    )
    folder = make_run(config, epochs=history(2), model="untrained", train_seconds=3.0)
    dataset = load_dataset("mnist")
    probs = np.full((len(dataset.y_test), 10), 0.001, np.float32)
    if collapsed:
        probs[:, 4] = 0.991
    else:
        probs[np.arange(len(dataset.y_test)), dataset.y_test] = 0.991
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


def test_train_s_status_line_says_the_run_learned_nothing_in_a_warning_badge(
    isolated_store,
) -> None:
    from tests.apptest_support import open_app

    folder = collapsed_run()
    at = open_app("pages/train.py")
    at.selectbox(key="train_monitor_run").set_value(folder.run_id).run()
    status = next(m.value for m in at.markdown if m.value.startswith("**Status:**"))
    assert ":orange-badge[:material/warning: completed · learned nothing" in status
    assert ":green-badge" not in status


@pytest.mark.parametrize("page", ["app.py", "pages/runs.py", "pages/compare.py"])
def test_run_tables_say_completed_learned_nothing(isolated_store, page: str) -> None:
    from tests.apptest_support import open_app

    collapsed = collapsed_run()
    healthy = collapsed_run(collapsed=False)
    at = open_app(None if page == "app.py" else page)
    assert_no_exception(at)
    frame = at.dataframe[0].value
    status = dict(zip(frame["run id"], frame["status"], strict=True))
    assert status[collapsed.run_id] == "completed · learned nothing (one class)"
    assert status[healthy.run_id] == "completed"


def nan_run() -> RunFolder:
    """A finished run whose loss became NaN in its second epoch."""
    from cnn_core.schema.records import EpochRecord

    folder = collapsed_run()
    folder.metrics_path.write_text("")
    folder.append_epoch(EpochRecord(1, loss=2.4, val_loss=2.3, accuracy=0.1, val_accuracy=0.1))
    nan = float("nan")
    folder.append_epoch(EpochRecord(2, loss=nan, val_loss=nan, accuracy=0.1, val_accuracy=0.1))
    return folder


def test_a_nan_loss_offers_clipped_gradients_and_queues_that_run(
    isolated_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[RunFolder] = []

    def launch(config: TrainConfig) -> tuple[RunFolder, bool]:  # no worker: nothing trains
        launched.append(create_run(config))
        return launched[-1], True

    monkeypatch.setattr(doctor_view, "launch_run", launch)
    folder = nan_run()
    at = open_with_query("pages/evaluate.py", run=folder.run_id)
    assert at.button(key="eval_doctor_try_0").label == "Try this: learning rate 1 -> 0.1"
    button = at.button(key="eval_doctor_try_0_alt")
    assert button.label == "Try this: clip gradients at norm 1"
    button.click().run()
    assert_no_exception(at)
    (retry,) = (load_run(f.path) for f in launched)
    assert retry.config.optimizer.clipnorm == 1.0
    assert retry.config.optimizer.learning_rate == 1.0  # the one change named
    assert at.query_params["runs"] == f"{folder.run_id},{retry.run_id}"
