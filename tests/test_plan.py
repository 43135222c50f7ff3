"""A run's plan of phases: their settings, planned epochs, and the ETA's weights."""

from __future__ import annotations

import pytest

from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD, vgg16_spec
from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.training.plan import Phase, eta_seconds, later_work, phase_settings, planned_epochs


def vgg_config(fine_tune: bool) -> TrainConfig:
    mode = "fine_tune" if fine_tune else "feature_extraction"
    return TrainConfig(
        dataset="cifar10",
        model=vgg16_spec(mode, 32, weights="none", fine_tune_epochs=3),
        optimizer=OptimizerSpec("adam", 1e-3),
        fit=FitSpec(epochs=2),
    )


def phase(epochs: int, cost: float) -> Phase:
    """A phase with only what `later_work` reads."""
    config = TrainConfig(fit=FitSpec(epochs=epochs))
    return Phase(None, config, lambda: None, lambda _: {}, lambda m: (m, None), cost)


def test_a_cnn_run_is_one_unnamed_phase_with_its_own_settings() -> None:
    config = TrainConfig(fit=FitSpec(epochs=4))
    assert phase_settings(config) == [(None, config)]
    assert planned_epochs(config) == 4


def test_a_fine_tuning_vgg16_run_adds_a_phase_at_its_own_rate_and_epochs() -> None:
    config = vgg_config(fine_tune=True)
    (head, head_config), (tune, tune_config) = phase_settings(config)
    assert (head, tune) == (PHASE_HEAD, PHASE_FINE_TUNE) == ("head", "fine-tune")  # stored
    assert head_config == config
    assert tune_config.fit.epochs == 3 and tune_config.fit.batch_size == config.fit.batch_size
    assert tune_config.optimizer.learning_rate == config.model.vgg16.fine_tune_learning_rate
    assert tune_config.optimizer.name == "adam"
    assert planned_epochs(config) == config.fit.epochs + config.model.vgg16.fine_tune_epochs == 5


def test_feature_extraction_alone_is_the_head_phase() -> None:
    config = vgg_config(fine_tune=False)
    assert phase_settings(config) == [(PHASE_HEAD, config)]
    assert planned_epochs(config) == 2


def test_later_work_weighs_the_epochs_ahead_by_their_cost() -> None:
    phases = [phase(2, 1.0), phase(3, 5.0)]
    assert later_work(phases, 0) == (3, 5.0)  # each later epoch costs 5 head epochs
    assert later_work(phases, 1) == (0, 1.0)  # nothing follows
    epochs, cost = later_work([phase(2, 2.0), phase(1, 4.0), phase(3, 8.0)], 0)
    assert epochs == 4 and cost == pytest.approx((1 * 4.0 + 3 * 8.0) / 4 / 2.0)


def test_eta_is_the_work_left_at_the_measured_rate() -> None:
    assert eta_seconds(0, 0.0, 100) is None  # no rate yet
    assert eta_seconds(5, 0.0, 100) is None
    # 8 batches in 4 s (0.5 s each), 30 left: 15 s.
    assert eta_seconds(8, 4.0, 30) == pytest.approx(15.0)
    # And 20 later batches each costing 3 of these: 60 more batches' worth.
    assert eta_seconds(8, 4.0, 30, later_batches=20, later_cost=3.0) == pytest.approx(45.0)
