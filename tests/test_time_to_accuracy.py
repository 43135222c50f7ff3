"""cnn_core.insight.time_to_accuracy: seconds and epochs until a validation accuracy."""

from __future__ import annotations

from cnn_core.insight.time_to_accuracy import epochs_to_reach, milestone_seconds, seconds_to_reach
from cnn_core.schema.records import EpochRecord


def history(*epochs: tuple[float | None, float | None]) -> list[EpochRecord]:
    return [
        EpochRecord(epoch=i, seconds=s, val_accuracy=a) for i, (s, a) in enumerate(epochs, start=1)
    ]


def test_seconds_add_up_to_the_first_epoch_that_reaches_the_target() -> None:
    log = history((10.0, 0.85), (12.0, 0.905), (11.0, 0.92), (9.0, 0.915))
    assert seconds_to_reach(log, 0.90) == 22.0
    assert seconds_to_reach(log, 0.92) == 33.0
    assert epochs_to_reach(log, 0.92) == 3
    assert seconds_to_reach(log, 0.85) == 10.0


def test_a_target_never_reached_has_no_time() -> None:
    log = history((10.0, 0.85), (12.0, 0.88))
    assert seconds_to_reach(log, 0.90) is None
    assert epochs_to_reach(log, 0.90) is None
    assert milestone_seconds(log, (0.85, 0.9)) == {0.85: 10.0, 0.9: None}


def test_a_partial_epoch_never_reaches_and_is_not_counted() -> None:
    log = [
        EpochRecord(epoch=1, seconds=10.0, val_accuracy=0.8),
        EpochRecord(epoch=2, seconds=3.0, val_accuracy=0.99, partial=True),
    ]
    assert seconds_to_reach(log, 0.9) is None
    log.append(EpochRecord(epoch=3, seconds=10.0, val_accuracy=0.95))
    assert seconds_to_reach(log, 0.9) == 20.0


def test_an_untimed_epoch_gives_no_time_rather_than_a_wrong_one() -> None:
    log = history((None, 0.5), (10.0, 0.95))
    assert seconds_to_reach(log, 0.9) is None
    assert epochs_to_reach(log, 0.9) == 2
