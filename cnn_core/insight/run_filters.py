"""Filtering run lists by dataset, model, tag and state (pure, no TensorFlow)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cnn_core.insight.labels import model_label
from cnn_core.schema.records import RunState
from cnn_core.store.runs import RunSummary


@dataclass(frozen=True)
class RunFilter:
    """Which runs to show; an empty set lets every value through.

    A run matches when its dataset key, its model label (`formatting.model_label`,
    "CNN 2 conv / 1 dense"), its state, and at least one of its tags are among
    the chosen ones.
    """

    datasets: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    states: frozenset[RunState] = frozenset()

    def matches(self, run: RunSummary) -> bool:
        dataset = run.config.dataset if run.config else ""
        return (
            (not self.datasets or dataset in self.datasets)
            and (not self.models or model_label(run) in self.models)
            and (not self.states or run.state in self.states)
            and (not self.tags or bool(self.tags & set(run.notes.tags)))
        )

    def apply(self, runs: Iterable[RunSummary]) -> list[RunSummary]:
        """The matching runs, in the order given."""
        return [run for run in runs if self.matches(run)]


@dataclass(frozen=True)
class FilterChoices:
    """The values present in a list of runs, sorted: what a filter can offer."""

    datasets: list[str]
    models: list[str]
    tags: list[str]
    states: list[RunState]


def filter_choices(runs: Iterable[RunSummary]) -> FilterChoices:
    runs = list(runs)
    states = {run.state for run in runs}
    return FilterChoices(
        datasets=sorted({run.config.dataset for run in runs if run.config}),
        models=sorted({model_label(run) for run in runs if run.config}),
        tags=sorted({tag for run in runs for tag in run.notes.tags}),
        states=[state for state in RunState if state in states],
    )
