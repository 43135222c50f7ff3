"""Minutes to accuracy: said before a run starts, and set beside the fast recipe after.

Each dataset has one headline target (`HEADLINE_TARGETS`: 92% for Fashion-MNIST).
How long a setup takes to reach it comes from measured figures only, best first:

1. Runs like this one (same settings but seed, name and group) finished in this
   run store: their own epoch logs, so seconds measured on this machine.
2. The figures `benchmarks/bench_time_to_accuracy.py --save` stored for the
   recipe this setup follows (`FIGURES_FILE`): epochs to the target, times this
   machine's seconds per epoch (`cnn_core.insight.machine_speed`).
3. `REFERENCE_EPOCHS`: figures quoted in benchmarks/README.md, as upper bounds.

When none applies the estimate gives the planned epochs' time only and says that
the time to the target is not measured: never a guess presented as a figure.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnn_core.data.registry import DatasetInfo
from cnn_core.insight.labels import format_duration
from cnn_core.insight.machine_speed import MachineSpeed, epoch_seconds
from cnn_core.insight.time_to_accuracy import MILESTONES, epochs_to_reach, seconds_to_reach
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.recipes import default, fast, matching_recipe, same_recipe
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.atomic import atomic_write_json
from cnn_core.store.runs import RunSummary
from cnn_core.training.lr_finder import STARTUP_S

# The validation accuracy each built-in dataset's times are quoted for: 92% is what
# the default CNN reaches on Fashion-MNIST in 10 epochs (benchmarks/README.md).
HEADLINE_TARGETS = {"fashion_mnist": 0.92, "mnist": 0.99, "cifar10": 0.70}
# Written by `bench_time_to_accuracy.py --save`; absent until someone runs it.
FIGURES_FILE = Path(__file__).with_name("time_to_accuracy_figures.json")
FIGURES_VERSION = 1
# (dataset, recipe, target) -> (epochs, labelled images, where from), upper bounds.
# bench_accuracy.py, 2026-11-23, the project's 2-core machine: the default recipe's best
# validation accuracy on full Fashion-MNIST (60,000 labelled images) was 92.47% within its
# 10 epochs, so it reached 92% by epoch 10 at the latest.
REFERENCE_EPOCHS: dict[tuple[str, str, float], tuple[float, int, str]] = {
    ("fashion_mnist", "default", 0.92): (10, 60_000, "bench_accuracy.py, 2026-11-23"),
}


@dataclass(frozen=True)
class Reach:
    """How long a setup takes to a target accuracy, and where the figure comes from."""

    target: float
    seconds: float | None  # None: never reached (see `best`), or its epochs were not timed
    epoch: float | None
    runs: int = 0  # this machine's finished runs measured (0: a recipe figure, `source`)
    reached: int = 0  # how many of those reached the target (the median is over these)
    source: str = ""  # a recipe figure's origin, e.g. "bench_time_to_accuracy.py, 2026-12-06"
    at_most: bool = False  # an upper bound: reached by then at the latest
    best: float | None = None  # the best validation accuracy when no run reached it

    def basis(self, runs_are: str) -> str:
        """Where the figure comes from; `runs_are` names this machine's runs ("like this one")."""
        if self.runs:
            runs = f"{self.runs} run{'' if self.runs == 1 else 's'} {runs_are} on this machine"
            if self.reached and self.reached < self.runs:
                return f"measured: {self.reached} of {runs} reached it"
            return f"measured: {runs}"
        when = "by epoch" if self.at_most else "at epoch"
        return f"{self.target:.0%} {when} {self.epoch:g} in {self.source}, at this machine's speed"

    def seconds_text(self, goal: str, runs_are: str) -> str:
        """'about 3 min 10 s to 92% ... (where from)', or why there is no time."""
        if self.seconds is None and self.best is not None:
            return f"never reached {goal} (best {self.best:.1%}; {self.basis(runs_are)})"
        if self.seconds is None:
            return f"not timed: its epochs have no durations ({self.basis(runs_are)})"
        lead = "at most about" if self.at_most else "about"
        return f"{lead} {format_duration(self.seconds)} to {goal} ({self.basis(runs_are)})"


def headline_target(dataset: str) -> float | None:
    """The accuracy a dataset's times are quoted for (None: a dataset of one's own)."""
    return HEADLINE_TARGETS.get(dataset)


def finished_like(config: TrainConfig, runs: Sequence[RunSummary]) -> list[RunSummary]:
    """This machine's completed runs that trained like `config` (seed, name, group aside)."""
    return [
        run
        for run in runs
        if run.state == RunState.COMPLETED
        and run.config is not None
        and not (run.starter or run.notes.imported_from)  # timed on other machines
        and same_recipe(run.config, config)
    ]


def measured_reach(runs: Sequence[RunSummary], target: float) -> Reach | None:
    """The median time to `target` over those of finished `runs` that reached it, or None
    when no run has an epoch log."""
    histories = [h for h in (run.read_history() for run in runs) if h]
    if not histories:
        return None
    epochs = [e for e in (epochs_to_reach(h, target) for h in histories) if e is not None]
    if not epochs:
        scores = [r.val_accuracy for h in histories for r in h if r.val_accuracy is not None]
        best = max(scores, default=None)
        return Reach(target, None, None, runs=len(histories), best=best)
    times = [t for t in (seconds_to_reach(h, target) for h in histories) if t is not None]
    return Reach(
        target,
        statistics.median(times) if times else None,
        statistics.median(epochs),
        runs=len(histories),
        reached=len(epochs),
    )


def load_figures(path: Path = FIGURES_FILE) -> dict[str, Any]:
    """The benchmark's stored figures ({} when absent, unreadable or of another version)."""
    try:
        figures = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(figures, dict) or figures.get("schema_version") != FIGURES_VERSION:
        return {}
    return figures


def target_key(target: float) -> str:
    """How a target is written in the figures file ("0.920")."""
    return f"{target:.3f}"


def figures_entry(histories: Sequence[Sequence[EpochRecord]], n_images: int) -> dict[str, Any]:
    """One recipe's stored figures from its benchmark runs' epoch logs.

    `epochs_to` holds the median epoch at which each target was first reached, only
    for targets that every run reached (a median over the lucky runs would flatter).
    `n_images`: the labelled images the runs split into training and validation.
    """
    epochs_to = {}
    for target in sorted({*MILESTONES, *HEADLINE_TARGETS.values()}):
        reached = [epochs_to_reach(h, target) for h in histories]
        if histories and all(e is not None for e in reached):
            epochs_to[target_key(target)] = statistics.median(e for e in reached if e)
    return {"n_images": n_images, "runs": len(histories), "epochs_to": epochs_to}


def save_figures(
    dataset: str, entries: dict[str, dict[str, Any]], about: dict[str, str], path: Path
) -> None:
    """Store recipes' `figures_entry`s for `dataset`, keeping other datasets' figures.

    `about`: when and where they were measured ("measured": date, "machine", "load"),
    stored in each entry (recipes may be measured on different machines) and as the
    file's latest.
    """
    figures = load_figures(path) or {"schema_version": FIGURES_VERSION, "datasets": {}}
    figures.update(about)  # the latest measurement's, and each entry its own
    recipes = figures["datasets"].setdefault(dataset, {})
    recipes.update({name: entry | about for name, entry in entries.items()})
    atomic_write_json(path, figures)


def recipe_epochs(
    config: TrainConfig, n_images: int, target: float, figures: dict[str, Any]
) -> tuple[float, str, bool] | None:
    """(epochs to `target`, where from, whether an upper bound) when `config` is a recipe
    with a figure measured on a dataset of `n_images` labelled images; else None."""
    recipe = matching_recipe(config)
    if recipe is None:
        return None
    entry = figures.get("datasets", {}).get(config.dataset, {}).get(recipe, {})
    epochs = entry.get("epochs_to", {}).get(target_key(target))
    if entry.get("n_images") == n_images and isinstance(epochs, int | float) and epochs > 0:
        measured = entry.get("measured", figures.get("measured", "?"))
        return float(epochs), f"bench_time_to_accuracy.py, {measured}", False
    reference = REFERENCE_EPOCHS.get((config.dataset, recipe, target))
    if reference is not None and reference[1] == n_images:
        return reference[0], reference[2], True
    return None


def reach_for(
    config: TrainConfig,
    info: DatasetInfo,
    n_images: int,
    runs: Sequence[RunSummary],
    speed: MachineSpeed,
    figures: dict[str, Any],
) -> Reach | None:
    """How long `config` takes to its dataset's headline target, or None when not measured."""
    target = headline_target(config.dataset)
    if target is None:
        return None
    if (reach := measured_reach(finished_like(config, runs), target)) is not None:
        return reach
    if (found := recipe_epochs(config, n_images, target, figures)) is None:
        return None
    epochs, source, at_most = found
    seconds = epochs * epoch_seconds(config, info, n_images, speed)
    return Reach(target, seconds, epochs, source=source, at_most=at_most)


@dataclass(frozen=True)
class Estimate:
    """What the Train page says before a launch."""

    epochs: int
    total_seconds: float  # every planned epoch at this machine's speed
    early_stopping: bool
    speed: MachineSpeed
    target: float | None
    reach: Reach | None

    def text(self) -> str:
        """Time to the target (or why none is given), then the planned epochs and the basis."""
        bound = "up to " if self.early_stopping else ""
        total = (
            f"all {self.epochs} epochs {bound}about {format_duration(self.total_seconds)} "
            f"({self.speed.basis()}; plus ~{STARTUP_S:.0f} s to start)"
        )
        if self.target is None:
            return f"On this machine: {total}."
        goal = f"{self.target:.0%} validation accuracy"
        if self.reach is None:
            return (
                f"Time to {goal}: not measured for this setup yet (train it once, or run "
                f"benchmarks/bench_time_to_accuracy.py). On this machine: {total}."
            )
        said = self.reach.seconds_text(goal, "like this one")
        return f"On this machine: {said}; {total}."


def estimate(
    config: TrainConfig,
    info: DatasetInfo,
    n_images: int,
    runs: Sequence[RunSummary],
    speed: MachineSpeed,
    figures: dict[str, Any],
) -> Estimate:
    """The pre-launch estimate for a CNN `config` on a dataset of `n_images` labelled images."""
    per_epoch = epoch_seconds(config, info, n_images, speed)
    return Estimate(
        epochs=config.fit.epochs,
        total_seconds=config.fit.epochs * per_epoch,
        early_stopping=config.fit.early_stopping,
        speed=speed,
        target=headline_target(config.dataset),
        reach=reach_for(config, info, n_images, runs, speed, figures),
    )


def run_reach_text(
    run: RunSummary, runs: Sequence[RunSummary], speed: MachineSpeed, figures: dict[str, Any]
) -> str | None:
    """'Reached 92% ... after N (epoch E) · the fast recipe: M on this machine' for a run.

    From the run's own epoch log; the fast recipe's figure on the run's own split
    (subset and validation size), so the two compare. None when the run's dataset
    has no headline target or the run recorded no epoch.
    """
    config, info, status = run.config, run.dataset, run.status
    target = headline_target(config.dataset) if config else None
    history = run.read_history()
    if config is None or target is None or not history:
        return None
    goal = f"{target:.0%} validation accuracy"
    epoch = epochs_to_reach(history, target)
    seconds = seconds_to_reach(history, target)
    if epoch is None:
        best = max((r.val_accuracy for r in history if r.val_accuracy is not None), default=None)
        own = f"Did not reach {goal}" + (f" (best {best:.1%})" if best is not None else "")
    elif seconds is None:
        own = f"Reached {goal} at epoch {epoch} (its epochs were not timed)"
    else:
        own = f"Reached {goal} after {format_duration(seconds)} of training (epoch {epoch})"
    if info is None or status is None or not status.n_train:
        return own
    n_images = status.n_train + (status.n_val or 0)
    reference = replace(
        fast(config.dataset), validation=config.validation, train_subset=config.train_subset
    )
    reach = reach_for(reference, info, n_images, runs, speed, figures)
    if reach is None:
        return f"{own} · the fast recipe: not measured on this split here yet"
    return f"{own} · the fast recipe: {reach.seconds_text(goal, 'of it')}"


@dataclass(frozen=True)
class FastStanding:
    """Whether the Train page may offer the fast recipe for a dataset, and what it says.

    `offered` is False only when the benchmark's stored figures show the fast recipe
    taking longer than the default recipe to the dataset's headline target on this
    machine: a "fast" button that is measured slower would tell people something false.
    """

    offered: bool
    text: str  # the measured comparison, or that none is measured yet


def fast_standing(
    info: DatasetInfo, n_images: int, speed: MachineSpeed, figures: dict
) -> FastStanding:
    """The fast recipe against the default on `info`'s dataset, from the stored figures.

    Args:
        info: the dataset (a built-in one; others have no headline target).
        n_images: its labelled training images (figures count only at that size).
        speed: this machine's speed (`machine_speed`).
        figures: `load_figures()`.
    """
    target = headline_target(info.key)
    if target is None:
        return FastStanding(True, "")
    seconds = {}
    for name, config in (("fast", fast(info.key)), ("default", default(info.key))):
        found = recipe_epochs(config, n_images, target, figures)
        if found is None or found[2]:  # not measured, or only an upper bound
            return FastStanding(
                True,
                f"Its time to {target:.0%} validation accuracy is not measured on this "
                "dataset yet (`benchmarks/bench_time_to_accuracy.py --save`).",
            )
        seconds[name] = found[0] * epoch_seconds(config, info, n_images, speed)
    said = (
        f"Measured ({figures.get('measured', '?')}), at this machine's speed: "
        f"{target:.0%} validation accuracy after about {format_duration(seconds['fast'])}, "
        f"the default recipe after about {format_duration(seconds['default'])}."
    )
    return FastStanding(seconds["fast"] < seconds["default"], said)
