"""The Compare page's side-by-side table of settings and results, and the CSV of histories.

One column per run (`run_column`): its dataset, model, parameters, optimizer,
schedule, weights, best epoch, timings and accuracies, as texts;
`differences_only` keeps the rows where the runs differ.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnn_core.insight.compare.curves import METRICS, best_epoch, elapsed_seconds
from cnn_core.insight.labels import (
    CLIPNORM_LABEL,
    LABEL_SMOOTHING_LABEL,
    MIRROR_AVERAGE_LABEL,
    clipnorm_text,
    format_duration,
    label_smoothing_text,
    mirror_average_text,
    model_label,
    optimizer_title,
    percent,
    precision_text,
    run_dataset_title,
    run_status_text,
    schedule_title,
)
from cnn_core.models.plan import describe_model
from cnn_core.models.vgg16_weights import weights_source
from cnn_core.schema.config import (
    TrainConfig,
)
from cnn_core.schema.records import EpochRecord
from cnn_core.store.runs import RunSummary
from cnn_core.training.plan import planned_epochs


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
        "state": run_status_text(run),  # with the doctor's verdict on a completed run
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
            CLIPNORM_LABEL.lower(): clipnorm_text(config.optimizer.clipnorm),
            "batch size": str(config.fit.batch_size),
            LABEL_SMOOTHING_LABEL.lower(): label_smoothing_text(config.fit.label_smoothing),
            "precision": precision_text(config.fit.mixed_precision),
            MIRROR_AVERAGE_LABEL.lower(): mirror_average_text(config.augment.mirror_average),
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
