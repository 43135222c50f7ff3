"""Training curves to overlay on the Compare page: one line per run, one band per seed group.

Each run's history becomes a `Curves` over epochs or elapsed seconds, with the
best epoch marked (`best_epoch`: the whole epoch with the highest validation
accuracy; an epoch cut short by Stop never is); a seed group's runs become
their mean ± standard deviation per epoch.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from cnn_core.schema.records import EpochRecord, whole_epochs

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def best_epoch(history: Sequence[EpochRecord]) -> int | None:
    """The whole epoch with the highest validation accuracy (else the lowest validation
    loss); an epoch cut short by Stop never is."""
    whole = whole_epochs(list(history))
    scored = [(r.val_accuracy, r.epoch) for r in whole if r.val_accuracy is not None]
    if scored:
        return max(scored, key=lambda pair: (pair[0], -pair[1]))[1]
    losses = [(r.val_loss, r.epoch) for r in whole if r.val_loss is not None]
    return min(losses)[1] if losses else None


@dataclass(frozen=True)
class Curves:
    """One line (a run) or band (a seed group's mean ± std) per metric, to overlay.

    `x` is epochs or elapsed seconds; `values[metric]` and `spread[metric]` hold one
    number (or None) per x, for each of METRICS; `spread` is empty for a single run.
    """

    label: str
    x: tuple[float, ...]
    values: dict[str, tuple[float | None, ...]]
    spread: dict[str, tuple[float | None, ...]]
    best_index: int | None  # the point of the best epoch, if any


def elapsed_seconds(history: Sequence[EpochRecord]) -> list[float | None]:
    """Wall-clock seconds from the start of training to the end of each epoch.

    None from the first epoch without a recorded duration on.
    """
    out: list[float | None] = []
    total: float | None = 0.0
    for record in history:
        total = None if total is None or record.seconds is None else total + record.seconds
        out.append(total)
    return out


def run_curves(label: str, history: Sequence[EpochRecord], x_axis: str = "epoch") -> Curves:
    """One run's curves against epochs (`x_axis` "epoch") or elapsed seconds ("seconds").

    An epoch cut short by Stop (always a run's last) is left out.

    Raises:
        ValueError: an unknown `x_axis`.
    """
    records = list(history)
    if x_axis == "seconds":
        pairs = [
            (s, r)
            for s, r in zip(elapsed_seconds(records), records, strict=True)
            if s is not None and not r.partial
        ]
        xs, records = [s for s, _ in pairs], [r for _, r in pairs]
    elif x_axis == "epoch":
        records = whole_epochs(records)
        xs = [float(r.epoch) for r in records]
    else:
        raise ValueError(f"x_axis must be 'epoch' or 'seconds'. Received: {x_axis!r}")
    best = best_epoch(records)
    epochs = [r.epoch for r in records]
    return Curves(
        label=label,
        x=tuple(xs),
        values={m: tuple(getattr(r, m) for r in records) for m in METRICS},
        spread={},
        best_index=epochs.index(best) if best in epochs else None,
    )


def mean_and_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0 for one value); (None, None) for none."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def group_curves(
    label: str, histories: Sequence[Sequence[EpochRecord]], x_axis: str = "epoch"
) -> Curves:
    """A seed group's mean ± standard deviation per epoch, over the runs that reached it.

    Against seconds, each epoch sits at the members' mean elapsed time.

    Raises:
        ValueError: an unknown `x_axis`.
    """
    if x_axis not in ("epoch", "seconds"):
        raise ValueError(f"x_axis must be 'epoch' or 'seconds'. Received: {x_axis!r}")
    by_epoch: dict[int, list[tuple[EpochRecord, float | None]]] = {}
    for history in histories:
        for record, elapsed in zip(history, elapsed_seconds(history), strict=True):
            if not record.partial:  # cut short by Stop: not an epoch to average
                by_epoch.setdefault(record.epoch, []).append((record, elapsed))
    epochs = sorted(by_epoch)
    if x_axis == "seconds":
        times = {e: [s for _, s in by_epoch[e] if s is not None] for e in epochs}
        epochs = [e for e in epochs if times[e]]
        xs = [statistics.fmean(times[e]) for e in epochs]
    else:
        xs = [float(e) for e in epochs]
    values: dict[str, list[float | None]] = {m: [] for m in METRICS}
    spread: dict[str, list[float | None]] = {m: [] for m in METRICS}
    for epoch in epochs:
        for metric in METRICS:
            found = [getattr(r, metric) for r, _ in by_epoch[epoch]]
            mean, std = mean_and_std([v for v in found if v is not None])
            values[metric].append(mean)
            spread[metric].append(std)
    accuracies = values["val_accuracy"]
    scored = [(a, i) for i, a in enumerate(accuracies) if a is not None]
    return Curves(
        label=label,
        x=tuple(xs),
        values={m: tuple(v) for m, v in values.items()},
        spread={m: tuple(v) for m, v in spread.items()},
        best_index=max(scored, key=lambda pair: (pair[0], -pair[1]))[1] if scored else None,
    )
