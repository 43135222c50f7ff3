"""cnn_core.charts.training: loss and accuracy curves."""

from __future__ import annotations

from cnn_core.charts.training import batch_loss_figure, training_curves_figure
from cnn_core.schema.records import EpochRecord, Progress


def _history(epochs: int) -> list[EpochRecord]:
    return [
        EpochRecord(e, loss=1 / e, accuracy=1 - 0.5 / e, val_loss=1.2 / e)
        for e in range(1, epochs + 1)
    ]


def test_curves_show_train_and_validation_per_metric() -> None:
    fig = training_curves_figure(_history(3))
    assert [(t.name, t.xaxis) for t in fig.data] == [
        ("train", "x"),
        ("validation", "x"),
        ("train", "x2"),
        ("validation", "x2"),
    ]
    assert list(fig.data[2].y) == [0.5, 0.75, 1 - 0.5 / 3]
    assert list(fig.data[3].y) == [None] * 3  # no val_accuracy recorded: a gap, not a zero
    assert [t.showlegend for t in fig.data] == [True, True, False, False]  # one legend entry


def test_x_range_covers_the_planned_epochs_while_training() -> None:
    running = training_curves_figure(_history(2), epochs=20)
    assert tuple(running.layout.xaxis.range) == (0.8, 20.2)
    assert running.layout.xaxis.dtick == 2
    done = training_curves_figure(_history(5))
    assert tuple(done.layout.xaxis.range) == (0.8, 5.2)
    assert tuple(training_curves_figure([]).layout.xaxis.range) == (0.8, 1.2)


def test_batch_loss_chart_draws_the_running_epoch() -> None:
    progress = Progress(
        epoch=3,
        epochs=5,
        batch=40,
        batches=100,
        elapsed=9.0,
        losses=((10, 0.9), (25, 0.7), (40, 0.6)),
    )
    fig = batch_loss_figure(progress)
    (line,) = fig.data
    assert list(line.x) == [10, 25, 40] and list(line.y) == [0.9, 0.7, 0.6]
    assert tuple(fig.layout.xaxis.range) == (0, 100)  # the whole epoch, so the line grows
    assert fig.layout.title.text.startswith("Epoch 3")


def test_a_dotted_line_marks_where_fine_tuning_starts() -> None:
    history = [
        EpochRecord(e, loss=1 / e, phase="head" if e <= 2 else "fine-tune") for e in range(1, 5)
    ]
    fig = training_curves_figure(history)
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert [s.x0 for s in lines] == [2.5, 2.5]  # one per panel
    assert {s.xref for s in lines} == {"x", "x2"}
    assert [a.text for a in fig.layout.annotations if "→" in a.text] == ["fine-tune →"]
    assert training_curves_figure(_history(3)).layout.shapes == ()


def _ticks(fig, axis: str) -> list[float]:
    """The tick values Plotly draws for `axis` (tick0 + k * dtick within the range)."""
    layout = fig.layout[axis]
    low, high = layout.range
    tick0, step = float(layout.tick0), float(layout.dtick)
    k0 = int((low - tick0) // step)
    return [t for k in range(k0, k0 + 200) if low <= (t := tick0 + k * step) <= high]


def test_epoch_ticks_are_whole_epochs() -> None:
    for epochs in (2, 3, 7, 12, 25):
        fig = training_curves_figure(_history(epochs))
        ticks = _ticks(fig, "xaxis")
        assert ticks and all(t == int(t) and t >= 1 for t in ticks), (epochs, ticks)
        assert 1.0 in ticks and len(ticks) <= 11


def test_an_empty_accuracy_chart_spans_0_to_100_percent() -> None:
    fig = training_curves_figure([], epochs=5)
    assert list(fig.layout.yaxis2.range) == [0.0, 1.0]


def test_a_collapsed_runs_accuracy_axis_spans_5_points_with_distinct_labels() -> None:
    flat = [EpochRecord(e, loss=2.30, accuracy=0.1, val_accuracy=0.1 + e / 10_000) for e in (1, 2)]
    fig = training_curves_figure(flat)
    low, high = fig.layout.yaxis2.range
    assert high - low >= 0.05 - 1e-9 and low <= 0.1 <= high
    assert fig.layout.yaxis2.tickformat == ".1%"  # 5-point span: 8.0%, 9.0%, ... not 10% x4
    near_top = [EpochRecord(1, accuracy=0.999, val_accuracy=0.998)]
    assert training_curves_figure(near_top).layout.yaxis2.range[1] == 1.0


def test_an_epoch_cut_short_by_stop_is_left_out_of_the_curves() -> None:
    history = [*_history(2), EpochRecord(3, loss=9.0, accuracy=0.1, partial=True)]
    fig = training_curves_figure(history, epochs=10)
    assert all(list(trace.x) == [1, 2] for trace in fig.data)
    assert 9.0 not in list(fig.data[0].y)
