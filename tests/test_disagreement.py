"""cnn_core.insight.compare.disagreement: the images one run alone gets right, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.insight.compare.disagreement import disagreement, same_test_set


def random_probs(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    logits = rng.normal(size=(n, classes)) * 3
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_each_image_lands_in_exactly_the_group_a_loop_gives_it() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    a, b = random_probs(rng, 300, 4), random_probs(rng, 300, 4)
    split = disagreement(y, a, b)
    only_a = [i for i in range(300) if a[i].argmax() == y[i] and b[i].argmax() != y[i]]
    only_b = [i for i in range(300) if b[i].argmax() == y[i] and a[i].argmax() != y[i]]
    both = sum(a[i].argmax() == y[i] and b[i].argmax() == y[i] for i in range(300))
    assert sorted(split.first_only.tolist()) == only_a and only_a
    assert sorted(split.second_only.tolist()) == only_b and only_b
    assert split.both_right == both
    assert split.n == 300 and split.both_wrong == 300 - both - len(only_a) - len(only_b)
    gap_a = [a[i, y[i]] - b[i, y[i]] for i in split.first_only]
    assert gap_a == sorted(gap_a, reverse=True)  # the widest gap first
    gap_b = [b[i, y[i]] - a[i, y[i]] for i in split.second_only]
    assert gap_b == sorted(gap_b, reverse=True)


def test_swapping_the_runs_swaps_the_galleries() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 80)
    a, b = random_probs(rng, 80, 3), random_probs(rng, 80, 3)
    forth, back = disagreement(y, a, b), disagreement(y, b, a)
    np.testing.assert_array_equal(forth.first_only, back.second_only)
    np.testing.assert_array_equal(forth.second_only, back.first_only)


def test_mismatched_arrays_are_refused() -> None:
    y = np.zeros(5, int)
    with pytest.raises(ValueError, match="same images"):
        disagreement(y, np.ones((5, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="same images"):
        disagreement(y[:3], np.ones((5, 3)), np.ones((5, 3)))


def test_same_test_set_needs_identical_labels() -> None:
    assert same_test_set(np.array([1, 2, 3]), np.array([1, 2, 3]))
    assert not same_test_set(np.array([1, 2, 3]), np.array([1, 3, 2]))
    assert not same_test_set(np.array([1, 2, 3]), np.array([1, 2]))
