"""The training doctor's checks on classes: one much harder than the rest, or too few images of one.

Pure functions of a run's test evaluation or its training images per class;
each returns at most one `Finding`.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnn_core.insight.doctor.findings import Finding
from cnn_core.schema.records import Evaluation

# A class whose recall is this far below the mean of the others is "much worse".
WEAK_CLASS_GAP = 0.15
# The largest class holding this many times the smallest's images is "imbalanced".
IMBALANCE_RATIO = 3.0


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
