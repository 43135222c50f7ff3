"""The training doctor: what went wrong in a run, the numbers that show it, and what to try.

Pure functions over a run's records (its config, epoch history and test
evaluation), so the findings can be tested on synthetic histories and on real
tiny trainings alike. Each check returns at most one `Finding`; `diagnose` runs
them all, most serious first. A finding may carry a `change`: the settings a
corrected run would use (same data, split and seed), for a one-click retry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cnn_core.insight.labels import percent
from cnn_core.schema.config import MAX_NAME_CHARS, TrainConfig
from cnn_core.schema.records import EpochRecord, Evaluation

# How close to chance, in accuracy points, counts as "learned nothing".
CHANCE_MARGIN = 0.02
# Share of test images given one class that counts as "collapsed to one class".
COLLAPSE_SHARE = 0.8
# Relative distance of a loss from ln(classes) that counts as "the same probability for all".
UNIFORM_LOSS_TOLERANCE = 0.05
# Epochs in a row of rising validation loss (with falling training loss) that show overfitting.
OVERFIT_EPOCHS = 2
# Train-validation accuracy gap, at the end, that shows overfitting.
OVERFIT_GAP = 0.05
# Relative improvement of a loss in the last epoch that counts as "still improving".
STILL_IMPROVING = 0.01
# Training accuracy below this at the end reads as "both curves poor" (underfitting).
POOR_TRAIN_ACCURACY = 0.7
# Validation above training accuracy by this much is worth explaining.
VAL_ABOVE_TRAIN = 0.01
# A class whose recall is this far below the mean of the others is "much worse".
WEAK_CLASS_GAP = 0.15
# The largest class holding this many times the smallest's images is "imbalanced".
IMBALANCE_RATIO = 3.0

SEVERITIES = ("problem", "warning", "info")  # most serious first


@dataclass(frozen=True)
class Finding:
    """One thing the doctor noticed.

    `title` names it in a few words, `evidence` gives the numbers behind it,
    `advice` the concrete next step; `change` (when not empty) is what
    `corrected_config` changes for a retry, by setting name, e.g.
    {"learning_rate": 0.0001}; `change_text` says it in words.
    """

    kind: str
    severity: str  # one of SEVERITIES
    title: str
    evidence: str
    advice: str
    change: dict[str, Any] = field(default_factory=dict)
    change_text: str = ""


def _sentence(text: str) -> str:
    """`text` with a capital first letter and a full stop (names inside keep their case)."""
    return text[:1].upper() + text[1:] + "."


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _last(history: Sequence[EpochRecord], attr: str) -> float | None:
    """The last epoch's value of `attr` that is a finite number, from whole epochs."""
    for record in reversed([r for r in history if not r.partial] or list(history)):
        value = getattr(record, attr)
        if value is not None and math.isfinite(value):
            return value
    return None


def _whole(history: Sequence[EpochRecord]) -> list[EpochRecord]:
    """The epochs that ran to their end (a Stop cuts the last one short)."""
    return [r for r in history if not r.partial]


def _lower_rate(config: TrainConfig | None, factor: float = 10.0) -> tuple[dict, str]:
    if config is None:
        return {}, ""
    rate = config.optimizer.learning_rate / factor
    return {"learning_rate": rate}, f"learning rate {config.optimizer.learning_rate:g} -> {rate:g}"


# -- the checks -------------------------------------------------------------------------


def non_finite_loss(history: Sequence[EpochRecord], config: TrainConfig | None) -> Finding | None:
    """The loss became NaN or infinite: the weights blew up."""
    bad = [
        r.epoch
        for r in history
        if any(v is not None and not math.isfinite(v) for v in (r.loss, r.val_loss))
    ]
    if not bad:
        return None
    change, text = _lower_rate(config)
    return Finding(
        "non_finite",
        "problem",
        "The loss became NaN or infinite",
        f"From epoch {bad[0]} the loss is not a number: the weights overflowed.",
        "Lower the learning rate (ten times lower is a good first try), or clip gradients.",
        change,
        text,
    )


def diverging(history: Sequence[EpochRecord], config: TrainConfig | None) -> Finding | None:
    """The training loss grew for the last epochs and ended well above its best."""
    losses = _finite([r.loss for r in _whole(history)])
    if len(losses) < 3:
        return None
    rising = losses[-1] > losses[-2] > losses[-3]
    if not (rising and losses[-1] > 1.5 * min(losses)):
        return None
    change, text = _lower_rate(config)
    return Finding(
        "diverging",
        "problem",
        "The training loss is growing",
        f"Training loss rose from its best {min(losses):.3g} to {losses[-1]:.3g} "
        "over the last epochs.",
        "The learning rate is too high for this model: lower it, or clip gradients.",
        change,
        text,
    )


def stuck_at_chance(
    history: Sequence[EpochRecord],
    evaluation: Evaluation | None,
    config: TrainConfig | None,
    n_classes: int,
) -> Finding | None:
    """Accuracy near 1/classes, loss near ln(classes), or one class predicted for most images."""
    if n_classes < 2:
        return None
    chance = 1.0 / n_classes
    accuracy = evaluation.accuracy if evaluation else _last(history, "val_accuracy")
    if accuracy is None:
        return None
    loss = evaluation.loss if evaluation else _last(history, "val_loss")
    uniform = math.log(n_classes)
    near_chance = accuracy <= chance + CHANCE_MARGIN
    uniform_loss = loss is not None and abs(loss - uniform) <= UNIFORM_LOSS_TOLERANCE * uniform
    top_share, top_class = _top_prediction(evaluation)
    collapsed = top_share >= COLLAPSE_SHARE
    if not (near_chance or collapsed):
        return None
    facts = [f"accuracy {percent(accuracy)} where guessing gives {percent(chance)}"]
    if loss is not None:
        facts.append(
            f"loss {loss:.3f}"
            + (f" = ln {n_classes} (the same probability for every class)" if uniform_loss else "")
        )
    if collapsed and evaluation is not None:
        facts.append(f"{100 * top_share:.0f}% of test images predicted '{top_class}'")
    change, text, advice = _rate_advice(history, config)
    return Finding(
        "collapsed" if collapsed else "chance",
        "problem",
        "The model collapsed to one class" if collapsed else "The model learned nothing",
        _sentence("; ".join(facts)),
        advice,
        change,
        text,
    )


def _top_prediction(evaluation: Evaluation | None) -> tuple[float, str]:
    """(share of test images given the most predicted class, that class's name)."""
    if evaluation is None or not evaluation.n:
        return 0.0, ""
    columns = [sum(column) for column in zip(*evaluation.confusion_matrix, strict=True)]
    top = max(range(len(columns)), key=columns.__getitem__)
    return columns[top] / evaluation.n, evaluation.class_names[top]


# Above these learning rates "learned nothing" is most likely the rate's doing.
HIGH_RATES = {"adam": 3e-3, "rmsprop": 3e-3, "sgd": 0.1}


def _rate_advice(history: Sequence[EpochRecord], config: TrainConfig | None) -> tuple:
    """(change, its text, advice) for a run that learned nothing: a high rate for its
    optimizer means too high; a loss falling slowly at a tiny rate means too low; a
    usual rate after an epoch or two means too short a training."""
    if config is None:
        return {}, "", "Check the learning rate first: too high a rate is the usual cause."
    rate, optimizer = config.optimizer.learning_rate, config.optimizer.name
    whole = _whole(history)
    losses = _finite([r.loss for r in whole])
    falling = len(losses) >= 2 and losses[-1] < losses[0] * (1 - STILL_IMPROVING)
    if rate > HIGH_RATES.get(optimizer, 3e-3) or not falling and len(whole) > 2:
        change, text = _lower_rate(config)
        return (
            change,
            text,
            "The learning rate is most likely too high: the first updates threw the weights "
            "where every input gives the same answer. Lower it (ten times lower is a good try).",
        )
    if rate < 1e-5:
        return (
            {"learning_rate": rate * 10},
            f"learning rate {rate:g} -> {rate * 10:g}",
            "The learning rate is too low for the weights to move. Raise it.",
        )
    epochs = max(config.fit.epochs, len(whole)) * 2
    return (
        {"epochs": epochs},
        f"epochs {config.fit.epochs} -> {epochs}",
        f"It trained only {len(whole)} whole epoch(s) at a usual learning rate: train longer, "
        "and if it still learns nothing, lower the rate.",
    )


def overfitting(history: Sequence[EpochRecord], config: TrainConfig | None) -> Finding | None:
    """Validation loss rising while training loss falls, or a wide accuracy gap."""
    whole = _whole(history)
    val = [r.val_loss for r in whole]
    train = [r.loss for r in whole]
    run = 0
    for i in range(1, len(whole)):
        if None in (val[i], val[i - 1], train[i], train[i - 1]):
            run = 0
            continue
        run = run + 1 if val[i] > val[i - 1] and train[i] < train[i - 1] else 0
    accuracy, val_accuracy = _last(whole, "accuracy"), _last(whole, "val_accuracy")
    gap = accuracy - val_accuracy if accuracy is not None and val_accuracy is not None else 0.0
    if run < OVERFIT_EPOCHS and gap <= OVERFIT_GAP:
        return None
    facts = []
    if run >= OVERFIT_EPOCHS:
        facts.append(f"validation loss rose for the last {run} epochs while training loss fell")
    if gap > OVERFIT_GAP:
        facts.append(
            f"training accuracy {percent(accuracy)} vs validation {percent(val_accuracy)} "
            f"({100 * gap:.1f} points apart)"
        )
    change, text = _more_dropout(config)
    return Finding(
        "overfitting",
        "warning",
        "The model is overfitting",
        _sentence("; ".join(facts)),
        "It memorises the training images. Try more dropout, augmentation (random shifts, "
        "zoom), early stopping with restored best weights, or a smaller model.",
        change,
        text,
    )


def _more_dropout(config: TrainConfig | None) -> tuple[dict, str]:
    if config is None or config.model.kind != "cnn" or not config.model.dense_layers:
        return {}, ""
    dropout = max(layer.dropout for layer in config.model.dense_layers)
    new = min(0.5, round(dropout + 0.25, 2))
    if new <= dropout:
        return {}, ""
    return {"dropout": new}, f"dropout {dropout:g} -> {new:g}"


def underfitting(history: Sequence[EpochRecord], config: TrainConfig | None) -> Finding | None:
    """Both losses still falling at the last epoch, or both accuracies poor."""
    whole = _whole(history)
    if len(whole) < 2:
        return None
    train = _finite([r.loss for r in whole[-2:]])
    val = _finite([r.val_loss for r in whole[-2:]])
    improving = (
        len(train) == 2
        and len(val) == 2
        and train[1] < train[0] * (1 - STILL_IMPROVING)
        and val[1] < val[0] * (1 - STILL_IMPROVING)
    )
    accuracy = _last(whole, "accuracy")
    poor = accuracy is not None and accuracy < POOR_TRAIN_ACCURACY
    stopped_early = config is not None and len(whole) < config.fit.epochs
    if not (improving and not stopped_early) and not poor:
        return None
    if improving and not stopped_early:
        epochs = config.fit.epochs * 2 if config else None
        change = {"epochs": epochs} if epochs else {}
        text = f"epochs {config.fit.epochs} -> {epochs}" if config else ""
        return Finding(
            "underfitting",
            "info",
            "It was still improving",
            f"In the last epoch training loss fell {train[0]:.3g} -> {train[1]:.3g} and "
            f"validation loss {val[0]:.3g} -> {val[1]:.3g}.",
            "Train for more epochs: the curves have not flattened yet.",
            change,
            text,
        )
    return Finding(
        "underfitting",
        "warning",
        "The model underfits",
        f"Training accuracy ended at {percent(accuracy)}: it does not fit even the "
        "images it trains on.",
        "Give it more capacity (more filters or conv blocks, a wider dense layer), "
        "train longer, or raise the learning rate.",
    )


def validation_above_training(
    history: Sequence[EpochRecord], config: TrainConfig | None
) -> Finding | None:
    """Validation accuracy above training accuracy, explained by dropout or augmentation."""
    accuracy, val_accuracy = _last(history, "accuracy"), _last(history, "val_accuracy")
    if accuracy is None or val_accuracy is None or val_accuracy - accuracy <= VAL_ABOVE_TRAIN:
        return None
    causes = []
    if config is not None:
        layers = config.model.dense_layers if config.model.kind == "cnn" else ()
        if any(layer.dropout > 0 for layer in layers) or (
            config.model.vgg16 is not None and config.model.vgg16.dropout > 0
        ):
            causes.append("dropout")
        if config.augment.active:
            causes.append("augmentation")
    why = " and ".join(causes) if causes else "the running average over the epoch"
    return Finding(
        "val_above_train",
        "info",
        "Validation accuracy is above training accuracy",
        f"Validation {percent(val_accuracy)} vs training {percent(accuracy)} in the last epoch.",
        f"That is expected here: {why} act only while training (and training accuracy is "
        "averaged over an epoch in which the model was still improving). Nothing to fix.",
    )


def weak_class(evaluation: Evaluation | None) -> Finding | None:
    """One class whose recall is far below the others', with its most confused partner."""
    if evaluation is None or len(evaluation.class_names) < 3:
        return None
    recalls = evaluation.per_class.recall
    worst = min(range(len(recalls)), key=recalls.__getitem__)
    others = [r for i, r in enumerate(recalls) if i != worst]
    mean_others = sum(others) / len(others)
    if mean_others - recalls[worst] < WEAK_CLASS_GAP:
        return None
    row = evaluation.confusion_matrix[worst]
    partner = max((j for j in range(len(row)) if j != worst), key=row.__getitem__)
    names = evaluation.class_names
    share = row[partner] / max(1, sum(row))
    return Finding(
        "weak_class",
        "warning",
        f"'{names[worst]}' is much harder than the other classes",
        f"Recall {100 * recalls[worst]:.1f}% vs {100 * mean_others:.1f}% on average for the "
        f"rest; {100 * share:.0f}% of its test images were taken for '{names[partner]}'.",
        f"Look at the '{names[worst]}' / '{names[partner]}' cell of the confusion matrix on "
        "Evaluate. More or clearer training images of both, or a model that sees finer "
        "detail (more filters, larger input), usually help.",
    )


def class_imbalance(
    train_counts: Sequence[int] | None, class_names: Sequence[str]
) -> Finding | None:
    """The largest class holds many times the smallest's training images."""
    if not train_counts or len(train_counts) < 2 or min(train_counts) <= 0:
        return None
    big = max(range(len(train_counts)), key=train_counts.__getitem__)
    small = min(range(len(train_counts)), key=train_counts.__getitem__)
    ratio = train_counts[big] / train_counts[small]
    if ratio < IMBALANCE_RATIO:
        return None
    total = sum(train_counts)
    return Finding(
        "imbalance",
        "warning",
        "The training classes are imbalanced",
        f"'{class_names[big]}' has {train_counts[big]:,} training images, "
        f"'{class_names[small]}' only {train_counts[small]:,} ({ratio:.1f}x fewer).",
        f"A model can score {100 * train_counts[big] / total:.0f}% by always answering "
        f"'{class_names[big]}', so accuracy flatters it: read the per-class recall on "
        "Evaluate, and add images of the small classes (or augment them).",
    )


# -- all of them ------------------------------------------------------------------------


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


def corrected_config(config: TrainConfig, finding: Finding) -> TrainConfig:
    """`config` with the finding's change applied: same data, split and seed, no group,
    named after what changed.

    Raises:
        ValueError: the finding suggests no change.
    """
    if not finding.change:
        raise ValueError(f"the finding {finding.kind!r} suggests no change to retry")
    new = config
    for key, value in finding.change.items():
        if key == "learning_rate":
            new = replace(new, optimizer=replace(new.optimizer, learning_rate=float(value)))
        elif key == "epochs":
            new = replace(new, fit=replace(new.fit, epochs=int(value)))
        elif key == "dropout":
            layers = tuple(replace(d, dropout=float(value)) for d in new.model.dense_layers)
            new = replace(new, model=replace(new.model, dense_layers=layers))
        else:
            raise ValueError(f"unknown setting to change: {key!r}")
    origin = config.name or "run"
    return replace(new, group="", name=f"{origin} · {finding.change_text}"[:MAX_NAME_CHARS])
