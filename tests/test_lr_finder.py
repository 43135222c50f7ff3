"""The learning-rate finder's pure functions, on synthetic loss curves, and its records."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cnn_core.charts.lr_finder import lr_finder_figure
from cnn_core.models.plan import describe_model
from cnn_core.schema.config import (
    LEARNING_RATE_RANGE,
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    TrainConfig,
)
from cnn_core.schema.records import RecordError, RunState
from cnn_core.store.lr_tests import KEEP_LR_TESTS, LR_TESTS_DIR, create_lr_test, list_lr_tests
from cnn_core.store.runs import list_runs
from cnn_core.training import lr_finder
from cnn_core.training.lr_finder import (
    BETA,
    MAX_STEPS,
    MIN_STEPS,
    LrTestResult,
    RangePlan,
    batch_indices,
    divergence_step,
    plan_range_test,
    rate_schedule,
    smooth_losses,
    suggest_rate,
    summarize,
)


def test_plan_takes_one_epoch_of_batches_within_bounds() -> None:
    assert plan_range_test(540, 9).steps == 60  # one epoch
    assert plan_range_test(100, 32).steps == MIN_STEPS  # tiny set: the floor
    assert plan_range_test(54_000, 64).steps == MAX_STEPS  # large set: a few hundred
    assert plan_range_test(20, 64).batch_size == 20  # a batch never exceeds the set
    with pytest.raises(ValueError, match="n_train=0"):
        plan_range_test(0, 64)


def test_rates_grow_geometrically_over_the_whole_range() -> None:
    plan = RangePlan(steps=71, batch_size=8, start_rate=1e-6, end_rate=10.0)
    rates = rate_schedule(plan)
    assert len(rates) == 71
    assert rates[0] == pytest.approx(1e-6) and rates[-1] == pytest.approx(10.0)
    ratios = rates[1:] / rates[:-1]
    assert np.allclose(ratios, 10 ** (7 / 70))  # 7 decades in 70 equal steps


def test_batches_are_full_seeded_passes_over_the_split() -> None:
    plan = RangePlan(steps=10, batch_size=7)
    batches = batch_indices(20, plan, seed=3)
    assert batches.shape == (10, 7)
    flat = batches.ravel()
    for start in (0, 20, 40):  # each pass is a permutation of the split
        assert sorted(flat[start : start + 20]) == list(range(20))
    assert np.array_equal(batches, batch_indices(20, plan, seed=3))
    assert not np.array_equal(batches, batch_indices(20, plan, seed=4))


def reference_smoothing(losses: np.ndarray, beta: float) -> np.ndarray:
    """The bias-corrected average written out as a weighted mean of the losses so far."""
    out = []
    for t in range(len(losses)):
        weights = (1 - beta) * beta ** np.arange(t, -1, -1)
        out.append(np.sum(weights * losses[: t + 1]) / (1 - beta ** (t + 1)))
    return np.asarray(out)


def test_smoothing_is_the_bias_corrected_moving_average() -> None:
    losses = np.random.default_rng(0).uniform(0.5, 3.0, size=40)
    assert np.allclose(smooth_losses(losses), reference_smoothing(losses, BETA))
    # Bias correction: a constant curve stays constant from the first batch on.
    assert np.allclose(smooth_losses(np.full(10, 2.3)), 2.3)


def test_the_smoothing_spans_a_25th_of_the_test() -> None:
    assert RangePlan(300, 64).beta == pytest.approx(1 - 1 / 12)
    assert RangePlan(50, 64).beta == pytest.approx(1 - 1 / 4)  # at least 4 batches


def test_divergence_is_four_times_the_best_or_not_a_number() -> None:
    curve = np.array([2.3, 1.0, 0.5, 0.6, 1.5, 1.9, 2.1, 5.0])
    assert divergence_step(curve) == 6  # 2.1 > 4 x 0.5
    assert divergence_step(np.array([2.3, 1.0, np.nan, 0.5])) == 2
    assert divergence_step(np.array([2.3, 2.0, 1.5, 1.0])) is None


def range_test_curve(steps: int = 120, centre: float = -3.0) -> tuple[np.ndarray, np.ndarray]:
    """A clean range-test shape: flat at 2.3, a logistic fall centred at 10**centre to
    0.2, then an exponential blow-up past 10**-1."""
    rates = np.geomspace(1e-6, 10.0, steps)
    x = np.log10(rates)
    fall = 0.2 + 2.1 / (1 + np.exp(3.0 * (x - centre)))
    return rates, fall + 0.05 * np.exp(4.0 * np.clip(x + 1, 0, None)) - 0.05


def test_the_suggestion_is_the_steepest_descent_before_the_minimum() -> None:
    for centre in (-4.0, -3.0, -2.5):
        rates, curve = range_test_curve(centre=centre)
        suggestion = suggest_rate(rates, curve)
        assert suggestion is not None and suggestion.method == "steepest descent"
        step = 7 / 119  # decades between neighbouring rates
        assert abs(math.log10(suggestion.rate) - centre) <= step + 0.01, suggestion
        assert suggestion.minimum_rate == pytest.approx(rates[np.argmin(curve)])


def test_a_loss_that_never_falls_has_no_suggestion() -> None:
    rates = np.geomspace(1e-6, 10.0, 60)
    flat = 2.3 + 0.01 * np.random.default_rng(1).standard_normal(60)
    assert suggest_rate(rates, flat) is None


def test_a_minimum_at_the_start_falls_back_to_a_tenth_of_it() -> None:
    rates = np.geomspace(1e-6, 10.0, 50)
    curve = np.concatenate([[2.3, 1.0], np.linspace(1.2, 5.0, 48)])
    suggestion = suggest_rate(rates, curve)
    assert suggestion is not None and suggestion.method == "minimum / 10"
    assert suggestion.rate == lr_finder.round_rate(rates[1] / 10)


def test_suggestions_stay_inside_the_forms_range() -> None:
    low, high = LEARNING_RATE_RANGE
    assert lr_finder.round_rate(1e-9) == low and lr_finder.round_rate(5.0) == high
    assert lr_finder.round_rate(0.0031623) == 0.0032


def test_a_noisy_test_smoothed_and_summarised_keeps_nan_out_of_the_record() -> None:
    rates, clean = range_test_curve(steps=80)
    noisy = clean * np.random.default_rng(2).uniform(0.9, 1.1, size=80)
    plan = RangePlan(80, 16)
    stop = divergence_step(smooth_losses(noisy, plan.beta))
    assert stop is not None  # the blow-up ends the test
    losses = [*noisy[: stop + 1]]
    losses[-1] = math.nan
    result = summarize(list(rates[: stop + 1]), losses, plan, "diverged", 4.0)
    assert result.losses[-1] is None and None not in result.losses[:-1]
    assert result.suggestion is not None
    assert abs(math.log10(result.suggestion.rate) + 3.0) < 0.5
    again = LrTestResult.from_dict(result.to_dict())
    assert again == result
    with pytest.raises(RecordError, match="different lengths"):
        LrTestResult.from_dict({**result.to_dict(), "rates": [1e-3]})
    fig = lr_finder_figure(result)
    assert fig.layout.xaxis.type == "log"
    assert [trace.name for trace in fig.data] == ["batch loss", "smoothed loss"]
    assert fig.layout.shapes[0].x0 == result.suggestion.rate  # the suggestion is marked


def test_the_cost_estimate_counts_the_models_multiply_adds() -> None:
    spec = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 3),), dense_layers=(DenseLayer(16),))
    rows = describe_model(spec, (28, 28, 1), 10)
    conv = 28 * 28 * 3 * 3 * 1 * 8  # same padding, then a 2x2 pool: 14 x 14 x 8
    dense = 14 * 14 * 8 * 16 + 16 * 10
    assert lr_finder.forward_flops(rows) == 2 * (conv + dense)
    small, large = RangePlan(50, 32), RangePlan(100, 32)
    assert lr_finder.estimate_seconds(rows, large) == pytest.approx(
        2 * lr_finder.estimate_seconds(rows, small)
    )


def test_the_range_test_config_ignores_what_the_test_sweeps_or_never_uses() -> None:
    base = TrainConfig(name="a")
    other = TrainConfig(name="b", group="g")
    other = replace(other, optimizer=replace(other.optimizer, learning_rate=0.1))
    assert lr_finder.range_test_config(base) == lr_finder.range_test_config(other)
    bigger = replace(base, fit=FitSpec(batch_size=128))
    assert lr_finder.range_test_config(bigger) != lr_finder.range_test_config(base)
    # the loss and the arithmetic the run trains with are tested with it
    smoothed = replace(base, fit=FitSpec(label_smoothing=0.1, mixed_precision=True, epochs=3))
    tested = lr_finder.range_test_config(smoothed).fit
    assert (tested.label_smoothing, tested.mixed_precision) == (0.1, True)
    assert tested.epochs == FitSpec().epochs  # what it ignores still goes


def test_lr_tests_are_kept_apart_from_runs_and_pruned(isolated_store: Path) -> None:
    tests = [create_lr_test(TrainConfig(seed=i)) for i in range(KEEP_LR_TESTS + 2)]
    for test in tests:
        test.write_status(RunState.COMPLETED)
    create_lr_test(TrainConfig())
    assert list_runs() == []  # never listed as training runs
    kept = list_lr_tests()
    assert len(kept) == KEEP_LR_TESTS
    assert tests[0].path.exists() is False and tests[-1].path.exists()
    assert tests[-1].path.parent == isolated_store.resolve() / LR_TESTS_DIR
