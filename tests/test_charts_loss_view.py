"""Loss curves people can read: log scale and bias-corrected smoothing, on Train and Compare."""

from __future__ import annotations

import json

import pytest

from cnn_core.charts.compare import curves_overlay_figure
from cnn_core.charts.loss_view import RAW_OPACITY, smoothed
from cnn_core.charts.training import batch_loss_figure, training_curves_figure
from cnn_core.insight.compare.curves import group_curves
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import EpochRecord, Progress
from tests.apptest_support import open_app, open_with_query
from tests.run_factory import make_run


def history(n: int = 6) -> list[EpochRecord]:
    return [
        EpochRecord(
            epoch=i + 1,
            loss=2.0 / (i + 1) + 0.1 * (i % 2),
            accuracy=0.5 + 0.05 * i,
            val_loss=2.2 / (i + 1),
            val_accuracy=0.48 + 0.05 * i,
        )
        for i in range(n)
    ]


def test_smoothing_is_an_ema_with_bias_correction() -> None:
    assert smoothed([3.0] * 5, 0.9) == pytest.approx([3.0] * 5)  # no pull towards 0
    values = [4.0, 2.0, None, 1.0, float("nan"), 3.0]
    w, average, weight, expected = 0.6, 0.0, 0.0, []
    for v in values:
        if v is None or v != v:
            expected.append(None)
            continue
        average, weight = w * average + (1 - w) * v, w * weight + (1 - w)
        expected.append(average / weight)
    assert smoothed(values, w) == pytest.approx(expected)
    assert smoothed([1.0, 5.0], 0.0) == [1.0, 5.0]
    with pytest.raises(ValueError, match="smoothing"):
        smoothed([1.0], 1.0)


def loss_traces(fig) -> list:
    return [t for t in fig.data if (t.xaxis or "x") == "x"]


def test_training_curves_log_scale_and_smoothing_touch_the_loss_panel_only() -> None:
    records = history()
    plain = training_curves_figure(records, 6)
    assert plain.layout.yaxis.type in (None, "linear") and len(plain.data) == 4
    fig = training_curves_figure(records, 6, log_loss=True, smoothing=0.5)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type != "log"
    raw = [t for t in loss_traces(fig) if t.opacity == RAW_OPACITY]
    lines = [t for t in loss_traces(fig) if t.opacity != RAW_OPACITY]
    assert [t.name for t in raw] == [t.name for t in lines] == ["train", "validation"]
    assert list(raw[0].y) == [r.loss for r in records]
    assert list(lines[0].y) == pytest.approx(smoothed([r.loss for r in records], 0.5))
    assert not any(t.showlegend for t in raw)
    accuracy = [t for t in fig.data if t.xaxis == "x2"]
    assert [list(t.y) for t in accuracy] == [list(t.y) for t in plain.data if t.xaxis == "x2"]
    assert fig.layout.xaxis.dtick == plain.layout.xaxis.dtick  # integer epoch axis kept


def test_compare_smooths_lines_but_not_bands_or_stars() -> None:
    members = [history(), [EpochRecord(**{**r.__dict__, "loss": r.loss * 1.1}) for r in history()]]
    group = group_curves("seeds", members, "epoch")
    plain = curves_overlay_figure([group], ["#4c78a8"])
    fig = curves_overlay_figure([group], ["#4c78a8"], log_loss=True, smoothing=0.8)
    assert fig.layout.yaxis.type == "log"
    bands = [t for t in loss_traces(fig) if t.fill == "toself"]
    assert bands and [list(b.y) for b in bands] == [
        list(t.y) for t in loss_traces(plain) if t.fill == "toself"
    ]
    stars = [t for t in loss_traces(fig) if t.marker.symbol == "star"]
    assert stars and len(stars[0].y) == 1
    assert len(fig.data) == len(plain.data) + 2  # a faint raw copy of both loss lines


def test_batch_loss_of_a_finished_run_is_titled_as_its_last_epoch() -> None:
    progress = Progress(3, 3, 100, 100, 30.0, losses=((50, 0.7), (100, 0.6)))
    assert "Epoch 3:" in batch_loss_figure(progress).layout.title.text
    fig = batch_loss_figure(progress, finished=True, log_loss=True)
    assert "Last epoch (3)" in fig.layout.title.text and fig.layout.yaxis.type == "log"


def chart_specs(at) -> dict[str, dict]:
    return {
        json.loads(c.proto.spec)["layout"].get("title", {}).get("text", ""): json.loads(
            c.proto.spec
        )
        for c in at.get("plotly_chart")
    }


def test_train_monitor_toggles_log_scale_and_smoothing_and_keeps_the_batch_chart() -> None:
    folder = make_run(TrainConfig(name="done"), epochs=history(3), pid=None)
    folder.write_progress(Progress(3, 3, 100, 100, 30.0, losses=((50, 0.7), (100, 0.6))))
    at = open_app("pages/train.py")
    assert not at.exception
    specs = list(chart_specs(at).values())
    assert len(specs) == 2  # the epoch curves and the last epoch's batch losses
    at.toggle(key="train_log_loss").set_value(True).run()
    at.slider(key="train_smoothing").set_value(0.5).run()
    assert not at.exception
    specs = list(chart_specs(at).values())
    assert all(s["layout"]["yaxis"].get("type") == "log" for s in specs)
    curves = next(s for s in specs if "yaxis2" in s["layout"])
    assert len(curves["data"]) == 6  # two raw loss lines under the smoothed ones
    at.run()  # the monitor's next redraw keeps the choice
    assert at.toggle(key="train_log_loss").value is True
    assert at.slider(key="train_smoothing").value == 0.5
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["yaxis"]["type"] == "log"


def test_compare_has_the_same_options() -> None:
    ids = []
    for name in ("a", "b"):
        ids.append(make_run(TrainConfig(name=name), epochs=history(3), pid=None).run_id)
    at = open_with_query("pages/compare.py", runs=",".join(ids))
    at.toggle(key="compare_log_loss").set_value(True).run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curves = [s for s in specs if "yaxis2" in s["layout"] and "★" in str(s["layout"])]
    assert curves and curves[0]["layout"]["yaxis"]["type"] == "log"


def test_a_short_last_epoch_still_draws_its_points() -> None:
    """A fast epoch records one throttled point: a line alone would draw nothing."""
    one = Progress(epoch=4, epochs=4, batch=8, batches=8, elapsed=7.0, losses=((8, 0.15),))
    assert "markers" in batch_loss_figure(one, finished=True).data[0].mode
    points = tuple((b, 1.0) for b in range(60))
    many = Progress(epoch=1, epochs=1, batch=60, batches=60, elapsed=9.0, losses=points)
    assert batch_loss_figure(many).data[0].mode == "lines"
