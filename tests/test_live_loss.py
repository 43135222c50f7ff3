"""The per-batch loss series of the running epoch: in the progress record and from the recorder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import MAX_LOSS_POINTS, EpochRecord, Progress, RunState, add_loss_point
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.processes import process_start_time
from cnn_core.training import callbacks
from tests.apptest_support import open_app


def test_loss_points_append_replace_and_thin_to_a_bounded_series() -> None:
    points = add_loss_point((), 1, 2.0)
    points = add_loss_point(points, 3, 1.5)
    assert points == ((1, 2.0), (3, 1.5))
    assert add_loss_point(points, 3, 1.4) == ((1, 2.0), (3, 1.4))  # same batch: replaced
    assert add_loss_point(points, 4, None) == points
    for batch in range(4, 1000):
        points = add_loss_point(points, batch, 1.0 / batch)
        assert len(points) <= MAX_LOSS_POINTS
    batches = [b for b, _ in points]
    assert batches == sorted(batches) and batches[-1] == 999  # the newest is always kept
    assert batches[0] < 100  # an even sample of the whole epoch, not just its end


def test_progress_records_keep_the_series_and_old_ones_read_without_it() -> None:
    progress = Progress(1, 2, 30, 100, 4.0, losses=((10, 0.9), (30, 0.8)))
    record = progress.to_dict()
    assert Progress.from_dict(record) == progress
    del record["losses"]
    assert Progress.from_dict(record).losses == ()


def test_the_recorder_writes_the_running_loss_of_the_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    monkeypatch.setattr(callbacks, "PROGRESS_INTERVAL_S", 0.0)  # write on every batch
    folder = RunFolder(tmp_path)
    recorder = callbacks.make_recorder(folder, epochs=2, batches=5)
    recorder.set_model(model)
    recorder.on_train_begin()
    recorder.on_epoch_begin(0)
    for batch, loss in enumerate((0.9, 0.8, 0.75)):
        recorder.on_train_batch_end(batch, {"loss": loss})
    progress = folder.read_progress()
    assert progress.losses == ((1, 0.9), (2, 0.8), (3, 0.75))
    assert progress.loss == 0.75
    recorder.on_epoch_begin(1)  # a new epoch starts a new series
    recorder.on_train_batch_end(0, {"loss": 0.5})
    assert folder.read_progress().losses == ((1, 0.5),)


def test_the_train_page_shows_the_live_loss_of_a_running_run() -> None:
    folder = create_run(TrainConfig(name="busy"))
    pid = os.getpid()  # alive for the whole test: the run counts as running
    folder.write_status(RunState.RUNNING, pid=pid, pid_start=process_start_time(pid))
    folder.append_epoch(EpochRecord(1, loss=0.9, val_loss=1.0))
    folder.write_progress(Progress(2, 5, 60, 200, 30.0, losses=((20, 0.7), (60, 0.6))))
    at = open_app("pages/train.py")
    charts = {chart.proto.id: chart for chart in at.get("plotly_chart")}
    assert len(charts) == 2, "the epoch curves and the running epoch's loss"
    assert any('"y":[0.7,0.6]' in chart.proto.spec.replace(" ", "") for chart in charts.values())
    folder.write_status(RunState.COMPLETED, pid=None)
    at.run()
    charts = at.get("plotly_chart")  # the last epoch's batch losses stay after the run
    assert len(charts) == 2
    assert any("Last epoch (2)" in chart.proto.spec for chart in charts)
