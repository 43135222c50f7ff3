"""A run as a plan of phases: what each `model.fit` trains, and how long the rest takes.

Every run is trained by the one loop in `cnn_core.training.loop`, which runs a list of
`Phase`s in order, numbering epochs on across them. A CNN run is one phase; a
pretrained-VGG16 run is the head phase and, when it fine-tunes, a second phase that
also trains block5 (`cnn_core.training.vgg16_phases` builds both). Phases differ in
their optimizer settings, epochs, the model they fit and its data, and in what one
epoch costs, which the ETA weighs (`later_work`, `eta_seconds`).

Nothing here imports TensorFlow: `planned_epochs` serves pages and run comparisons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD
from cnn_core.schema.config import TrainConfig


class StoppedBeforeTraining(Exception):
    """Stop was pressed while the phases were being prepared: nothing was trained.

    The message is what the run's status says (the Train page shows it).
    """


@dataclass(frozen=True)
class Phase:
    """One `model.fit` of a run, as the loop runs it.

    The callables are called by the loop in this order: `fit_model` inside the
    placement's scope (the loop compiles what it returns), `fit_data` with the
    global batch size, and `test_data` on the last phase run, with the whole trained
    model (reloaded on one device after a distributed fit).
    """

    name: str | None  # recorded on each of its epochs ("head", "fine-tune"); None: one phase
    config: TrainConfig  # the optimizer and fit settings this phase trains under
    fit_model: Callable[[], Any]  # -> the Keras model this phase fits (the run's, or its top)
    fit_data: Callable[[int], dict[str, Any]]  # global batch -> `model.fit`'s data arguments
    test_data: Callable[[Any], tuple[Any, Any]]  # trained model -> (model to test, test inputs)
    epoch_cost: float = 1.0  # estimated seconds of one epoch; only ratios between phases count


def phase_settings(config: TrainConfig) -> list[tuple[str | None, TrainConfig]]:
    """Each phase a config plans, by name, with the settings it trains under.

    A CNN trains one unnamed phase. A VGG16 run trains its head ("head"); with
    `fine_tune`, a second phase ("fine-tune") runs `fine_tune_epochs` at
    `fine_tune_learning_rate` with the same optimizer, schedule and early stopping.
    The names are stored on each epoch record, so they keep their spelling.
    """
    vgg = config.model.vgg16
    if config.model.kind != "vgg16" or vgg is None:
        return [(None, config)]
    phases: list[tuple[str | None, TrainConfig]] = [(PHASE_HEAD, config)]
    if vgg.fine_tune:
        optimizer = replace(config.optimizer, learning_rate=vgg.fine_tune_learning_rate)
        fit = replace(config.fit, epochs=vgg.fine_tune_epochs)
        phases.append((PHASE_FINE_TUNE, replace(config, optimizer=optimizer, fit=fit)))
    return phases


def planned_epochs(config: TrainConfig) -> int:
    """All epochs a run plans, over every phase (a VGG16 run's head and fine-tuning)."""
    return sum(settings.fit.epochs for _, settings in phase_settings(config))


def later_work(phases: Sequence[Phase], index: int) -> tuple[int, float]:
    """The epochs planned after phase `index`, and what one costs in its epochs.

    Returns:
        (later epochs, later cost): the cost is the later phases' epoch-weighted
        mean epoch cost over this phase's (1.0 when nothing follows).
    """
    later = phases[index + 1 :]
    epochs = sum(p.config.fit.epochs for p in later)
    if not epochs:
        return 0, 1.0
    weighted = sum(p.config.fit.epochs * p.epoch_cost for p in later) / epochs
    return epochs, weighted / phases[index].epoch_cost


def eta_seconds(
    timed_batches: int,
    timed_seconds: float,
    batches_left: int,
    later_batches: int = 0,
    later_cost: float = 1.0,
) -> float | None:
    """Seconds left for the whole run, at the rate the running fit has measured.

    Only batches the running fit has timed count: a later phase's fit starts its
    clock anew, so batches of earlier phases would inflate its rate.

    Args:
        timed_batches: batches the running fit has trained since its clock started.
        timed_seconds: seconds since then.
        batches_left: batches left in the running fit's planned epochs.
        later_batches: batches planned after it (a later phase's).
        later_cost: what one later batch costs in batches of the running fit
            (fine-tuning against cached head training: `later_work`).

    Returns:
        The seconds left, or None until a batch has been timed.
    """
    if timed_batches <= 0 or timed_seconds <= 0:
        return None
    work = max(0, batches_left) + later_batches * later_cost
    return work * timed_seconds / timed_batches
