"""Two runs image by image: the test images one gets right and the other wrong.

Scratch against pretrained, small against big: accuracies say how many, this says
which. Pure functions of the runs' stored predictions (``RunFolder.read_predictions``)
on the same test set; the Compare page shows the images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Disagreement:
    """Where two runs' predictions on one test set part.

    Attributes:
        first_only: int64 test indices the first run gets right and the second wrong,
            the widest gap in the true class's probability first.
        second_only: the reverse, ordered the same way.
        both_right, both_wrong: how many images both get right, both wrong.
    """

    first_only: np.ndarray
    second_only: np.ndarray
    both_right: int
    both_wrong: int

    @property
    def n(self) -> int:
        """Test images compared."""
        return len(self.first_only) + len(self.second_only) + self.both_right + self.both_wrong


def same_test_set(y_first: np.ndarray, y_second: np.ndarray) -> bool:
    """True when two runs' stored labels are identical, image for image."""
    return np.shape(y_first) == np.shape(y_second) and bool(
        np.array_equal(np.asarray(y_first), np.asarray(y_second))
    )


def disagreement(
    y_true: np.ndarray, probs_first: np.ndarray, probs_second: np.ndarray
) -> Disagreement:
    """The test images each of two runs alone gets right.

    Args:
        y_true: int (n,) the true classes.
        probs_first, probs_second: float (n, classes) each run's probabilities.

    Returns:
        The indices both ways (see ``Disagreement``) and the counts of agreement.

    Raises:
        ValueError: when the arrays do not describe the same n images and classes.
    """
    y_true = np.asarray(y_true)
    first, second = np.asarray(probs_first), np.asarray(probs_second)
    if first.ndim != 2 or first.shape != second.shape or len(y_true) != len(first):
        raise ValueError(
            "y_true (n,) and both probabilities (n, classes) must describe the same images. "
            f"Received: shapes {y_true.shape}, {first.shape}, {second.shape}"
        )
    right_first = first.argmax(axis=1) == y_true
    right_second = second.argmax(axis=1) == y_true
    rows = np.arange(len(y_true))
    gap = first[rows, y_true] - second[rows, y_true]  # > 0: the first is surer of the truth

    def widest(mask: np.ndarray, sign: float) -> np.ndarray:
        chosen = np.flatnonzero(mask)
        return chosen[np.argsort(-sign * gap[chosen], kind="stable")].astype(np.int64)

    return Disagreement(
        first_only=widest(right_first & ~right_second, 1.0),
        second_only=widest(right_second & ~right_first, -1.0),
        both_right=int((right_first & right_second).sum()),
        both_wrong=int((~right_first & ~right_second).sum()),
    )
