"""The training doctor: what went wrong in a run, the numbers that show it, and what to try.

Pure functions over a run's records (its config, epoch history and test
evaluation), so the findings can be tested on synthetic histories and on real
tiny trainings alike. Each check (`curve_checks`, `class_checks`) returns at
most one `Finding`; `diagnose` runs them all, most serious first. A finding may
carry a `change`: the settings a corrected run would use (same data, split and
seed), for a one-click retry (`corrected_config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cnn_core.insight.doctor.class_checks import class_imbalance, weak_class
from cnn_core.insight.doctor.curve_checks import (
    diverging,
    non_finite_loss,
    overfitting,
    stuck_at_chance,
    underfitting,
    validation_above_training,
)
from cnn_core.insight.doctor.findings import SEVERITIES, Finding
from cnn_core.schema.config import MAX_NAME_CHARS, TrainConfig
from cnn_core.schema.records import EpochRecord, Evaluation


def diagnose(
    config: TrainConfig | None,
    history: Sequence[EpochRecord],
    evaluation: Evaluation | None,
    n_classes: int | None = None,
    train_counts: Sequence[int] | None = None,
) -> list[Finding]:
    """Every finding for one run, most serious first.

    Args:
        config: the run's config (None for a broken run: fewer suggestions).
        history: its epoch records, in order.
        evaluation: its test evaluation, if stored.
        n_classes: the number of classes (default: from the evaluation).
        train_counts: training images per class, if known.

    Returns:
        Findings; an empty list for a healthy run.
    """
    names = evaluation.class_names if evaluation else ()
    k = n_classes or len(names)
    broken = non_finite_loss(history, config)
    found = [
        broken,
        None if broken else diverging(history, config),
        stuck_at_chance(history, evaluation, config, k),
    ]
    learned = found[2] is None and broken is None
    if learned:
        found += [
            overfitting(history, config),
            underfitting(history, config),
            validation_above_training(history, config),
            weak_class(evaluation),
        ]
    if names:
        found.append(class_imbalance(train_counts, names))
    findings = [f for f in found if f is not None]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def healthy(findings: Sequence[Finding]) -> bool:
    """No problem and no warning (notes alone are fine)."""
    return all(f.severity == "info" for f in findings)


def corrected_config(
    config: TrainConfig, finding: Finding, alternative: bool = False
) -> TrainConfig:
    """`config` with the finding's change (or, with `alternative`, its alternative change)
    applied: same data, split and seed, no group, named after what changed.

    Raises:
        ValueError: the finding suggests no such change.
    """
    change, text = (
        (finding.alternative, finding.alternative_text)
        if alternative
        else (finding.change, finding.change_text)
    )
    if not change:
        raise ValueError(f"the finding {finding.kind!r} suggests no change to retry")
    new = config
    for key, value in change.items():
        if key == "learning_rate":
            new = replace(new, optimizer=replace(new.optimizer, learning_rate=float(value)))
        elif key == "clipnorm":
            new = replace(new, optimizer=replace(new.optimizer, clipnorm=float(value)))
        elif key == "epochs":
            new = replace(new, fit=replace(new.fit, epochs=int(value)))
        elif key == "dropout":
            layers = tuple(replace(d, dropout=float(value)) for d in new.model.dense_layers)
            new = replace(new, model=replace(new.model, dense_layers=layers))
        else:
            raise ValueError(f"unknown setting to change: {key!r}")
    origin = config.name or "run"
    return replace(new, group="", name=f"{origin} · {text}"[:MAX_NAME_CHARS])
