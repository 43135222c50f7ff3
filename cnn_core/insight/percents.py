"""The one way accuracies are written: '89.98%'.

Its own module, below both the run-row texts (`labels`, which re-exports it) and the
training doctor's checks that quote accuracies (`curve_checks`): the labels ask the
doctor for a run's verdict, so the doctor cannot import the labels.
"""

from __future__ import annotations


def percent(value: float | None) -> str:
    """An accuracy in [0, 1] as '89.98%' (two decimals everywhere); '–' when unknown."""
    return "–" if value is None or value != value else f"{100 * value:.2f}%"
