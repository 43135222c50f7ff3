"""Time to accuracy: how many seconds of training a run took to first reach an accuracy.

The clock is the run's own epoch log: the seconds of every epoch up to and including
the first whose held-out validation accuracy reached the target (each epoch's
seconds include its validation pass, as the worker times them). Partial epochs cut
short by Stop have no validation accuracy and never count as reaching a target.
Test accuracy is measured once, after training, so it cannot time a run.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnn_core.schema.records import EpochRecord

# The accuracies the benchmark and the finished view report on (fractions).
MILESTONES = (0.90, 0.91, 0.92, 0.93, 0.94)


def seconds_to_reach(history: Sequence[EpochRecord], target: float) -> float | None:
    """Training seconds until validation accuracy first reached `target`, or None.

    None also when an epoch before that point has no recorded duration (runs
    recorded before epochs were timed), since the sum would be wrong.
    """
    elapsed = 0.0
    for record in history:
        if record.partial:
            continue
        if record.seconds is None:
            return None
        elapsed += record.seconds
        if record.val_accuracy is not None and record.val_accuracy >= target:
            return elapsed
    return None


def epochs_to_reach(history: Sequence[EpochRecord], target: float) -> int | None:
    """The epoch number at which validation accuracy first reached `target`, or None."""
    for record in history:
        reached = record.val_accuracy is not None and record.val_accuracy >= target
        if reached and not record.partial:
            return record.epoch
    return None


def milestone_seconds(
    history: Sequence[EpochRecord], milestones: Sequence[float] = MILESTONES
) -> dict[float, float | None]:
    """`seconds_to_reach` for each milestone."""
    return {target: seconds_to_reach(history, target) for target in milestones}
