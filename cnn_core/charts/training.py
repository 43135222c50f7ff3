"""Training curves: loss and accuracy per epoch, and the running loss of the epoch under way."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_core.charts.loss_view import apply_loss_view
from cnn_core.charts.style import (
    MARGIN,
    TRAIN_COLOUR,
    VAL_COLOUR,
    accuracy_axis,
    epoch_axis,
)
from cnn_core.schema.records import EpochRecord, Progress, whole_epochs


def training_curves_figure(
    history: list[EpochRecord],
    epochs: int | None = None,
    log_loss: bool = False,
    smoothing: float = 0.0,
) -> go.Figure:
    """Loss and accuracy per epoch, train and validation, side by side.

    Args:
        history: a run's epoch records, in order. An epoch cut short by Stop
            (`partial`) is left out: it saw only some of its batches.
        epochs: the planned number of epochs, to fix the x range while training.
            A dotted line marks where a new phase (e.g. fine-tuning) starts.
        log_loss: the loss on a log axis.
        smoothing: EMA weight of the past for the loss lines, in [0, 1)
            (`loss_view.smoothed`); the raw lines stay, faint.

    Returns:
        A new figure of two panels; accuracy on a percent axis.
    """
    history = whole_epochs(history)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    x = [r.epoch for r in history]
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for key, name, color in (
            (metric, "train", TRAIN_COLOUR),
            (f"val_{metric}", "validation", VAL_COLOUR),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[getattr(r, key) for r in history],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    line={"color": color},
                ),
                row=1,
                col=col,
            )
    for boundary, phase in phase_starts(history):
        fig.add_vline(x=boundary - 0.5, line={"dash": "dot", "color": "grey"}, row=1, col="all")
        fig.add_annotation(
            x=boundary - 0.5,
            y=1,
            yref="paper",
            text=f"{phase} →",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font={"size": 11, "color": "grey"},
        )
    last = max(epochs or 1, x[-1] if x else 1)
    fig.update_xaxes(title_text="epoch", **epoch_axis(last))
    accuracies = [v for r in history for v in (r.accuracy, r.val_accuracy)]
    fig.update_yaxes(**accuracy_axis(accuracies), row=1, col=2)
    fig.update_layout(height=320, margin=MARGIN, legend={"orientation": "h", "y": -0.25})
    return apply_loss_view(fig, log_loss, smoothing)


FEW_POINTS = 30  # fewer batch points than this get markers too


def batch_loss_figure(
    progress: Progress, finished: bool = False, log_loss: bool = False
) -> go.Figure:
    """The running training loss of the epoch under way, batch by batch.

    Keras' running loss is the mean over the epoch's batches so far, so the line
    is already smoothed: it settles as the epoch goes on.

    Args:
        progress: a run's progress record; its `losses` are (batch, loss) points.
        finished: the run has ended: the record is its last epoch's, titled so.
        log_loss: the loss on a log axis.

    Returns:
        A new figure; the x axis spans the epoch's batches.
    """
    batches = [batch for batch, _ in progress.losses]
    fig = go.Figure(
        go.Scatter(
            x=batches,
            y=[loss for _, loss in progress.losses],
            # markers where there are few points: one point alone draws no line
            mode="lines+markers" if len(batches) < FEW_POINTS else "lines",
            name="running training loss",
            line={"color": TRAIN_COLOUR},
            hovertemplate="batch %{x}<br>loss %{y:.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="batch", range=[0, max(1, progress.batches)])
    fig.update_yaxes(title_text="loss")
    title = f"Epoch {progress.epoch}: running training loss (mean of its batches so far)"
    if finished:
        title = f"Last epoch ({progress.epoch}): running training loss, batch by batch"
    fig.update_layout(height=240, margin=MARGIN, title={"text": title, "font": {"size": 14}})
    return apply_loss_view(fig, log_loss)


def phase_starts(history: list[EpochRecord]) -> list[tuple[int, str]]:
    """(first epoch, phase) of every phase after the first, for two-phase runs."""
    starts = []
    for before, record in zip(history, history[1:], strict=False):
        if record.phase and record.phase != before.phase:
            starts.append((record.epoch, record.phase))
    return starts
