"""The training doctor's checks on curves: NaN, divergence, chance level, over- and underfitting.

Pure functions of a run's config and epoch history (plus, for chance level, its
test evaluation); each returns at most one `Finding`, with the settings a
corrected run would change (a lower learning rate, more dropout, more epochs).
The thresholds are named below, with what they mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cnn_core.insight.doctor.findings import Finding
from cnn_core.insight.percents import percent
from cnn_core.schema.config import TrainConfig
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


# The gradient norm offered when a loss blows up and gradients are not clipped yet.
CLIPNORM_TO_TRY = 1.0


def _clip_gradients(config: TrainConfig | None) -> tuple[dict, str]:
    """Gradient clipping to try for a loss that blew up; nothing when already clipped."""
    if config is None or config.optimizer.clipnorm > 0:
        return {}, ""
    return {"clipnorm": CLIPNORM_TO_TRY}, f"clip gradients at norm {CLIPNORM_TO_TRY:g}"


def non_finite_loss(history: Sequence[EpochRecord], config: TrainConfig | None) -> Finding | None:
    """The loss became NaN or infinite: the weights blew up.

    The run store keeps only finite numbers (`records.EpochRecord.from_dict` reads NaN
    as missing), so a whole epoch stored with a training accuracy but no training loss
    counts too: Keras logs both for every epoch it finishes, and only a non-finite
    loss goes missing.
    """
    bad = [
        r.epoch
        for r in history
        if any(v is not None and not math.isfinite(v) for v in (r.loss, r.val_loss))
        or (r.loss is None and r.accuracy is not None and not r.partial)
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
        *_clip_gradients(config),
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
        *_clip_gradients(config),
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
    loss = loss if loss is not None and math.isfinite(loss) else None  # NaN: non_finite says it
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
