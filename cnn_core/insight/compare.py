"""Comparing runs: pairs with another model, seed groups, the side-by-side table.

Pure logic over the run store's records (no Streamlit, no TensorFlow):

- `ALTERNATIVES`, the registry of "compare with another model" choices: each
  maps a finished run's config to a new config on the same dataset, split and
  seed with another model (`paired_config`). New kinds of model (VGG16 feature
  extraction, fine-tuning) are one more entry.
- Seed groups: one configuration launched N times with different seeds, tied
  together by `TrainConfig.group` (`seed_group`, `group_summaries`).
- What the Compare page shows: run ids from a URL (`parse_run_ids`,
  `resolve_runs`), the settings-and-results table (`comparison_table`,
  `differences_only`), curves to overlay (`run_curves`, `group_curves`) and
  the selected histories as CSV (`histories_csv`).
"""

from __future__ import annotations

import csv
import io
import math
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnn_core.base.errors import UserError
from cnn_core.data.registry import find_dataset
from cnn_core.insight.labels import (
    format_duration,
    model_label,
    optimizer_title,
    percent,
    run_dataset_title,
    schedule_title,
)
from cnn_core.models.cnn import describe_model
from cnn_core.models.vgg16 import planned_epochs, vgg16_spec, weights_problem, weights_source
from cnn_core.schema.config import (
    DEFAULT_PRESET,
    MAX_NAME_CHARS,
    PRESETS,
    ConfigError,
    ModelSpec,
    TrainConfig,
    validate_model,
)
from cnn_core.schema.records import EpochRecord, whole_epochs
from cnn_core.store.runs import RunFolder, RunSummary

GROUP_SIZE_RANGE = (2, 8)  # runs in a seed group (the queue holds 8)
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _with_model(spec: ModelSpec) -> Callable[[TrainConfig], TrainConfig]:
    """An alternative that swaps in `spec` and keeps everything else."""
    return lambda config: replace(config, model=spec)


# "Compare with another model": label -> function(config) -> the partner's config.
# paired_config keeps the dataset, split and seed and names the run, whatever the
# function returns; a VGG16 entry is one more line here.
ALTERNATIVES: dict[str, Callable[[TrainConfig], TrainConfig]] = {
    "Softmax regression (baseline)": _with_model(PRESETS["Softmax regression"]),
    "Studio default CNN": _with_model(PRESETS[DEFAULT_PRESET]),
    "Keras MNIST convnet (dropout 0.5)": _with_model(
        PRESETS["Keras MNIST convnet: 3x3 conv 32 -> 3x3 conv 64 -> dense 128 + dropout 0.5"]
    ),
    "Small RGB net (3 conv blocks)": _with_model(
        PRESETS["Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128"]
    ),
    "VGG16 feature extraction (ImageNet, 32 px)": _with_model(vgg16_spec("feature_extraction")),
    "VGG16 fine-tuned (ImageNet, 32 px)": _with_model(vgg16_spec("fine_tune")),
}


def alternatives_for(config: TrainConfig) -> list[str]:
    """The registry's labels whose model differs from `config`'s, fits its dataset and
    can run here (see `alternatives_without_weights` for the VGG16 ones that cannot)."""
    blocked = set(alternatives_without_weights(config))
    return [label for label in _fitting_alternatives(config) if label not in blocked]


def alternatives_without_weights(config: TrainConfig) -> list[str]:
    """The fitting VGG16 alternatives whose weights are not on this machine (the worker
    never downloads; the Train page gets the ImageNet weights first)."""
    labels = []
    for label in _fitting_alternatives(config):
        vgg = ALTERNATIVES[label](config).model.vgg16
        if vgg is not None and weights_problem(vgg):
            labels.append(label)
    return labels


def _fitting_alternatives(config: TrainConfig) -> list[str]:
    """The registry's labels whose model differs from `config`'s and fits its dataset."""
    info = find_dataset(config.dataset)
    if info is None:  # not on this server: a partner could not train
        return []
    labels = []
    for label, alternative in ALTERNATIVES.items():
        spec = alternative(config).model
        if spec != config.model and not validate_model(spec, info.image_shape):
            labels.append(label)
    return labels


def paired_config(config: TrainConfig, label: str, origin: str) -> TrainConfig:
    """The config that trains alternative `label` on `config`'s dataset, split and seed.

    Args:
        config: the finished run's config.
        label: a key of ALTERNATIVES.
        origin: the finished run's name or id, for the new run's name.

    Returns:
        The partner's config: same dataset, validation, train_subset and seed, no group.

    Raises:
        UserError: an unknown label, a dataset that is not on this server, or a model
            that does not fit the dataset's images.
    """
    if label not in ALTERNATIVES:
        raise UserError(f"unknown model to compare with: {label!r}")
    info = find_dataset(config.dataset)
    if info is None:
        raise UserError(f"the dataset {config.dataset!r} is not on this server")
    partner = ALTERNATIVES[label](config)
    name = f"{label.split(' (')[0]} vs {origin}"[:MAX_NAME_CHARS]
    partner = replace(
        partner,
        dataset=config.dataset,
        validation=config.validation,
        train_subset=config.train_subset,
        seed=config.seed,
        group="",
        name=name,
    )
    problems = validate_model(partner.model, info.image_shape)
    if problems:
        raise ConfigError(problems)
    return partner


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


# -- which runs a URL names --------------------------------------------------------------


def parse_run_ids(text: str | None) -> list[str]:
    """The run ids of a `?runs=<id>,<id>` value: split on commas, blanks and repeats dropped."""
    ids: list[str] = []
    for part in (text or "").split(","):
        part = part.strip()
        if part and part not in ids:
            ids.append(part)
    return ids


def resolve_runs(
    ids: Sequence[str], runs: Sequence[RunSummary]
) -> tuple[list[RunSummary], list[str]]:
    """The runs `ids` name, in that order, and the ids that name no run."""
    by_id = {run.run_id: run for run in runs}
    found = [by_id[i] for i in ids if i in by_id]
    unknown = [i for i in ids if i not in by_id]
    return found, unknown


def listing_state(runs: Sequence[RunSummary]) -> tuple:
    """What run tables show of `runs` that changes while they train: (id, state,
    epochs, best validation and test accuracy) each. A page that polls only part
    of itself compares this to know when the rest is stale."""
    return tuple(
        (run.run_id, str(run.state), run.epochs_done, run.best_val_accuracy, run.test_accuracy)
        for run in runs
    )


# -- the side-by-side table -------------------------------------------------------------


def parameter_counts(run: RunSummary) -> tuple[int, int] | None:
    """(total, trainable) parameters of a run's model from its config and dataset;
    None when either is unknown."""
    config, info = run.config, run.dataset
    if config is None or info is None:
        return None
    try:
        rows = describe_model(config.model, info.image_shape, len(info.class_names))
    except (ValueError, KeyError, TypeError):
        return None
    return sum(r.params for r in rows), sum(r.trainable for r in rows)


def mean_epoch_seconds(history: Sequence[EpochRecord]) -> float | None:
    """Mean seconds of the whole (not cut short) epochs; None when none was timed."""
    seconds = [r.seconds for r in history if r.seconds is not None and not r.partial]
    return statistics.fmean(seconds) if seconds else None


def best_epoch(history: Sequence[EpochRecord]) -> int | None:
    """The whole epoch with the highest validation accuracy (else the lowest validation
    loss); an epoch cut short by Stop never is."""
    whole = whole_epochs(list(history))
    scored = [(r.val_accuracy, r.epoch) for r in whole if r.val_accuracy is not None]
    if scored:
        return max(scored, key=lambda pair: (pair[0], -pair[1]))[1]
    losses = [(r.val_loss, r.epoch) for r in whole if r.val_loss is not None]
    return min(losses)[1] if losses else None


def _validation_text(validation: float) -> str:
    if isinstance(validation, float) and not validation.is_integer():
        return f"{100 * validation:g}% of the training images"
    return f"{int(validation):,} images"


def run_title(run: RunSummary) -> str:
    """A run's column title: its name (or id)."""
    return run.config.name if run.config and run.config.name else run.run_id


def run_column(run: RunSummary, history: Sequence[EpochRecord]) -> dict[str, str]:
    """One run's settings and results, as the texts of its column in the table."""
    config, status = run.config, run.status
    counts = parameter_counts(run)
    total = status.train_seconds if status and status.train_seconds is not None else None
    if total is None and history:
        total = sum(r.seconds or 0.0 for r in history)
    best = best_epoch(history)
    planned = planned_epochs(config) if config else None  # both phases of a VGG16 run
    column = {
        "run id": run.run_id,
        "state": str(run.state),
        "dataset": run_dataset_title(run),
        "model": model_label(run),
        "parameters": f"{counts[0]:,}" if counts else "?",
        "trainable parameters": f"{counts[1]:,}" if counts else "?",
    }
    if config and config.model.kind == "vgg16" and config.model.vgg16 is not None:
        recorded = status.weights_source if status else None
        column["weights"] = recorded or weights_label(config)
    if config:
        column |= {
            "optimizer": optimizer_title(config.optimizer.name),
            "learning rate": f"{config.optimizer.learning_rate:g}",
            "schedule": schedule_title(config.optimizer.schedule),
            "batch size": str(config.fit.batch_size),
            "validation": _validation_text(config.validation),
            "training subset": f"{config.train_subset:,}" if config.train_subset else "all",
            "seed": str(config.seed),
            "seed group": config.group or "–",
        }
    column |= {
        "epochs": f"{run.epochs_done} of {planned}" if planned else str(run.epochs_done),
        "seconds per epoch": _seconds(mean_epoch_seconds(history)),
        "total time": format_duration(total),
        "best validation accuracy": percent(run.best_val_accuracy),
        "best epoch": str(best) if best else "–",
        "test accuracy": percent(run.test_accuracy),
    }
    return column


def weights_label(config: TrainConfig) -> str:
    """A VGG16 run's weights as its config names them (runs recorded before the
    worker kept `Status.weights_source`, or not started yet)."""
    vgg = config.model.vgg16
    if vgg.weights == "file":
        return f"{Path(vgg.weights_file).name} (local file)"
    return weights_source(vgg)


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} s"


def comparison_table(
    runs: Sequence[RunSummary], histories: Sequence[Sequence[EpochRecord]]
) -> tuple[list[str], dict[str, list[str]]]:
    """Settings and results side by side: one column per run, one row per property.

    Args:
        runs: the runs, in the order of their columns.
        histories: each run's epoch records, in the same order.

    Returns:
        (column titles, {property: one text per run}); a property a run lacks is "–".
    """
    columns = [run_column(run, history) for run, history in zip(runs, histories, strict=True)]
    properties: list[str] = []
    for column in columns:
        properties += [key for key in column if key not in properties]
    table = {key: [column.get(key, "–") for column in columns] for key in properties}
    return unique_titles([run_title(run) for run in runs]), table


def unique_titles(titles: Sequence[str]) -> list[str]:
    """`titles` with repeats numbered ("a", "a (2)"), as table columns must be unique."""
    seen: dict[str, int] = {}
    out = []
    for title in titles:
        seen[title] = seen.get(title, 0) + 1
        out.append(title if seen[title] == 1 else f"{title} ({seen[title]})")
    return out


def differences_only(table: dict[str, list[str]]) -> dict[str, list[str]]:
    """The rows of a comparison table whose values are not all the same ("run id" kept)."""
    return {key: values for key, values in table.items() if key == "run id" or len(set(values)) > 1}


def histories_csv(runs: Sequence[RunSummary], histories: Sequence[Sequence[EpochRecord]]) -> str:
    """Every epoch of the runs as one CSV table, a row per run and epoch.

    Columns: run_id, name, dataset, seed, group, epoch, seconds, elapsed_seconds
    (cumulative), loss, accuracy, val_loss, val_accuracy, learning_rate, partial;
    unknown values are empty.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["run_id", "name", "dataset", "seed", "group", "epoch", "seconds", "elapsed_seconds"]
    writer.writerow([*header, *METRICS, "learning_rate", "partial"])
    for run, history in zip(runs, histories, strict=True):
        config = run.config
        about = [
            run.run_id,
            config.name if config else "",
            config.dataset if config else "",
            config.seed if config else "",
            config.group if config else "",
        ]
        for record, elapsed in zip(history, elapsed_seconds(history), strict=True):
            values = [getattr(record, metric) for metric in METRICS]
            writer.writerow(
                [*about, record.epoch, _blank(record.seconds), _blank(elapsed)]
                + [_blank(v) for v in values]
                + [_blank(record.learning_rate), record.partial]
            )
    return out.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value


# -- curves to overlay ------------------------------------------------------------------


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
