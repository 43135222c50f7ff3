"""A completed run the doctor finds wrong never reads as a plain success: its status in
the run tables, status lines and Compare's settings table carries the verdict, and the
verdict is worked out once per version of the run's files, not once per render."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.insight.compare import side_by_side
from cnn_core.insight.doctor import verdict as doctor_verdict
from cnn_core.insight.labels import run_badge, run_row, run_status_text
from cnn_core.models.evaluate import summarize
from cnn_core.schema.config import OptimizerSpec, TrainConfig
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.runs import load_run
from tests.journey_runs import SMALL_CNN

LABELS = np.arange(200) % 10
RIGHT = LABELS.copy()
RIGHT[::9] = (RIGHT[::9] + 1) % 10  # about 89% right, errors spread over the classes
FALLING = [(1.2, 0.9, 0.6, 0.7), (0.6, 0.55, 0.8, 0.82), (0.4, 0.42, 0.88, 0.87)]
# Validation loss rising while training loss falls, and a wide accuracy gap.
OVERFIT = [(0.8, 0.6, 0.7, 0.7), (0.3, 0.62, 0.9, 0.8), (0.1, 0.7, 0.98, 0.8)]


def save_predictions(folder: RunFolder, predicted: np.ndarray) -> None:
    probs = np.full((len(LABELS), 10), 0.001, np.float32)
    probs[np.arange(len(LABELS)), predicted] = 0.991
    folder.save_evaluation(summarize(probs, LABELS, list("0123456789")), probs, LABELS)


def stored_run(
    predicted: np.ndarray,
    curves: list[tuple[float, float, float, float]] = FALLING,
    state: RunState = RunState.COMPLETED,
    name: str = "run",
) -> RunFolder:
    """A finished run (no model: the doctor reads records only) with these epochs
    (loss, val loss, accuracy, val accuracy) and test predictions."""
    config = TrainConfig(model=SMALL_CNN, optimizer=OptimizerSpec("sgd", 1.0), name=name)
    folder = create_run(config)
    for epoch, (loss, val_loss, acc, val_acc) in enumerate(curves, start=1):
        folder.append_epoch(
            EpochRecord(epoch, loss=loss, val_loss=val_loss, accuracy=acc, val_accuracy=val_acc)
        )
    save_predictions(folder, predicted)
    folder.write_status(state, train_seconds=3.0)
    return folder


def test_a_collapsed_run_reads_completed_learned_nothing_in_tables_and_badges() -> None:
    run = load_run(stored_run(np.full(len(LABELS), 4)).path)
    assert run_row(run)["status"] == "completed · learned nothing (one class)"
    badge = run_badge(run)
    assert badge == ":orange-badge[:material/warning: completed · learned nothing (one class)]"
    assert all(ord(ch) < 0x2000 for ch in badge)  # Material icons, no emoji
    _, table = side_by_side.comparison_table([run], [run.read_history()])
    assert table["state"] == ["completed · learned nothing (one class)"]


def test_a_healthy_run_stays_a_plain_green_success() -> None:
    run = load_run(stored_run(RIGHT).path)
    assert run_row(run)["status"] == "completed"
    assert run_badge(run) == ":green-badge[:material/check_circle: completed]"


def test_a_run_with_a_warning_reads_as_a_caution_not_a_success_nor_a_problem() -> None:
    run = load_run(stored_run(RIGHT, OVERFIT).path)
    assert run_status_text(run) == "completed · overfitting"
    assert run_badge(run).startswith(":yellow-badge[:material/info: completed · overfitting]")


@pytest.mark.parametrize("state", [RunState.STOPPED, RunState.FAILED])
def test_only_completed_runs_carry_a_verdict_in_their_status(state: RunState) -> None:
    run = load_run(stored_run(np.full(len(LABELS), 4), state=state).path)
    assert run_status_text(run) == state.value  # its own colour already says it
    assert doctor_verdict.run_findings(run)  # the findings are still there for Evaluate


def test_the_verdict_is_worked_out_once_per_version_of_the_runs_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    diagnose = doctor_verdict.diagnose

    def counted(*args, **kwargs):
        calls.append(args)
        return diagnose(*args, **kwargs)

    monkeypatch.setattr(doctor_verdict, "diagnose", counted)
    folder = stored_run(np.full(len(LABELS), 4))
    for _ in range(3):  # three renders of a table
        assert run_status_text(load_run(folder.path)).startswith("completed · learned")
    assert len(calls) == 1
    save_predictions(folder, RIGHT)  # evaluated again (a new file): diagnosed again
    assert run_status_text(load_run(folder.path)) == "completed"
    assert len(calls) == 2


def test_a_running_run_is_not_diagnosed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor_verdict, "diagnose", pytest.fail)
    folder = create_run(TrainConfig(model=SMALL_CNN))
    folder.write_status(RunState.QUEUED)
    assert run_status_text(load_run(folder.path)) == "queued"
