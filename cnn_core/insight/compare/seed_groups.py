"""Seed groups: one configuration launched N times with different seeds.

The runs are tied together by `TrainConfig.group` (`seed_group` makes them,
`launch_all` queues them); `group_summaries` finds the groups among chosen runs
and the spread of their test accuracy, which says how much a single run's
result is luck.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from cnn_core.base.errors import UserError
from cnn_core.insight.compare.curves import mean_and_std
from cnn_core.insight.compare.side_by_side import run_title
from cnn_core.schema.config import (
    TrainConfig,
)
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import RunSummary

GROUP_SIZE_RANGE = (2, 8)  # runs in a seed group (the queue holds 8)


def new_group_id() -> str:
    """A unique seed-group id such as `g20261123-101500-3fa2`."""
    return f"g{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def seed_group(config: TrainConfig, n: int, group: str | None = None) -> list[TrainConfig]:
    """`config` repeated `n` times with seeds seed, seed + 1, ..., as one group.

    Args:
        config: the configuration to repeat (its own group is replaced).
        n: how many runs, in GROUP_SIZE_RANGE.
        group: the group id; None makes a new one.

    Raises:
        UserError: `n` outside GROUP_SIZE_RANGE.
    """
    low, high = GROUP_SIZE_RANGE
    if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
        raise UserError(f"a seed group has {low} to {high} runs. Received: {n!r}")
    group = group or new_group_id()
    base = config.name or "run"
    return [
        replace(config, seed=config.seed + i, group=group, name=f"{base} · seed {config.seed + i}")
        for i in range(n)
    ]


def launch_all(
    configs: Sequence[TrainConfig], launch: Callable[[TrainConfig], tuple[RunFolder, bool]]
) -> tuple[list[RunFolder], str]:
    """Launch configs one by one until one is refused (a full queue).

    Args:
        configs: what to launch, in order.
        launch: `cnn_core.training.worker.launch_run` (it applies the queue and concurrency limits).

    Returns:
        (the run folders launched, the refusal's message or "").
    """
    folders: list[RunFolder] = []
    for config in configs:
        try:
            folder, _ = launch(config)
        except UserError as error:
            return folders, f"{len(folders)} of {len(configs)} runs queued: {error}"
        folders.append(folder)
    return folders, ""


@dataclass(frozen=True)
class GroupSummary:
    """A seed group among the chosen runs: its members and their test accuracy's spread."""

    group: str
    runs: tuple[RunSummary, ...]
    test_mean: float | None
    test_std: float | None

    @property
    def label(self) -> str:
        """'<name of the first run, without its seed> (n seeds)'."""
        first = self.runs[0]
        base = run_title(first).rsplit(" · seed ", 1)[0]
        return f"{base} ({len(self.runs)} seeds)"

    @property
    def seeds(self) -> list[int]:
        return [run.config.seed for run in self.runs if run.config]

    def test_text(self) -> str:
        """'97.41% ± 0.12% (n = 3)', or '–' before any member was evaluated."""
        tested = sum(run.test_accuracy is not None for run in self.runs)
        if self.test_mean is None or self.test_std is None:
            return "–"
        return f"{100 * self.test_mean:.2f}% ± {100 * self.test_std:.2f}% (n = {tested})"


def group_summaries(runs: Sequence[RunSummary], min_size: int = 2) -> list[GroupSummary]:
    """The seed groups with at least `min_size` members among `runs`, in first-seen order.

    A group's runs are in seed order.
    """
    members: dict[str, list[RunSummary]] = {}
    for run in runs:
        if run.config and run.config.group:
            members.setdefault(run.config.group, []).append(run)
    summaries = []
    for group, group_runs in members.items():
        if len(group_runs) < min_size:
            continue
        group_runs.sort(key=lambda run: run.config.seed if run.config else 0)
        tests = [r.test_accuracy for r in group_runs if r.test_accuracy is not None]
        mean, std = mean_and_std([t for t in tests if math.isfinite(t)])
        summaries.append(GroupSummary(group, tuple(group_runs), mean, std))
    return summaries
