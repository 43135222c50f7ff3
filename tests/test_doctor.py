"""The training doctor: each finding from a history (and evaluation) that shows it, none
from a healthy run; and real tiny trainings, one collapsed by a huge learning rate."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from cnn_core.insight.doctor import class_checks
from cnn_core.insight.doctor import diagnosis as doctor
from cnn_core.models.evaluate import summarize
from cnn_core.schema.config import (
    AugmentSpec,
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    OptimizerSpec,
    TrainConfig,
)
from cnn_core.schema.records import EpochRecord
from cnn_core.store.folder import create_run
from cnn_core.store.runs import load_run

CNN = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 3),), dense_layers=(DenseLayer(32, 0.25),))
CONFIG = TrainConfig(model=CNN, fit=FitSpec(epochs=6), name="try")
NAMES = tuple(str(i) for i in range(10))


def epochs(losses, val_losses, accs, val_accs) -> list[EpochRecord]:
    return [
        EpochRecord(i + 1, loss=lo, val_loss=vl, accuracy=a, val_accuracy=va)
        for i, (lo, vl, a, va) in enumerate(zip(losses, val_losses, accs, val_accs, strict=True))
    ]


def evaluation_of(predicted: np.ndarray, labels: np.ndarray, n_classes: int = 10):
    """An Evaluation whose predictions are exactly `predicted` (confident one-hot)."""
    probs = np.full((len(labels), n_classes), 0.01 / (n_classes - 1), np.float32)
    probs[np.arange(len(labels)), predicted] = 0.99
    return summarize(probs, labels, [str(i) for i in range(n_classes)])


HEALTHY = epochs(
    [1.2, 0.6, 0.4, 0.32, 0.30, 0.295],
    [0.9, 0.55, 0.42, 0.38, 0.37, 0.368],
    [0.60, 0.80, 0.86, 0.89, 0.895, 0.90],
    [0.70, 0.82, 0.86, 0.87, 0.875, 0.876],
)


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def test_a_healthy_run_has_no_findings() -> None:
    labels = np.arange(1000) % 10
    predicted = labels.copy()
    predicted[::9] = (predicted[::9] + 1) % 10  # about 89% right, errors spread evenly
    findings = doctor.diagnose(CONFIG, HEALTHY, evaluation_of(predicted, labels))
    assert findings == [] and doctor.healthy(findings)


def test_a_collapsed_run_is_a_problem_with_a_lower_rate_to_try() -> None:
    labels = np.arange(1000) % 10
    history = epochs([2.31, 2.303], [2.302, 2.3026], [0.1, 0.1], [0.1, 0.1])
    config = TrainConfig(model=CNN, optimizer=OptimizerSpec("sgd", 1.0), name="lr one")
    evaluation = evaluation_of(np.full(1000, 4), labels)
    (finding,) = doctor.diagnose(config, history, evaluation)
    assert finding.kind == "collapsed" and finding.severity == "problem"
    assert "100% of test images predicted '4'" in finding.evidence
    assert "Accuracy 10.00% where guessing gives 10.00%" in finding.evidence  # as elsewhere
    assert finding.change == {"learning_rate": 0.1}
    assert not doctor.healthy([finding])
    retry = doctor.corrected_config(config, finding)
    assert retry.optimizer.learning_rate == pytest.approx(0.1)
    assert (retry.dataset, retry.validation, retry.seed) == (config.dataset, 0.1, config.seed)
    assert retry.name == "lr one · learning rate 1 -> 0.1"


def test_loss_at_ln_classes_is_named_as_the_same_probability_for_every_class() -> None:
    history = epochs([2.302, 2.3026], [2.3025, 2.3026], [0.11, 0.1], [0.1, 0.1])
    (finding,) = doctor.diagnose(CONFIG, history, None, n_classes=10)
    assert finding.kind == "chance" and "ln 10" in finding.evidence
    assert math.isclose(math.log(10), 2.302585, rel_tol=1e-6)


def test_nan_loss_and_a_growing_loss_say_lower_the_rate() -> None:
    nan = epochs([0.9, float("nan")], [0.8, float("nan")], [0.7, 0.1], [0.7, 0.1])
    assert kinds(doctor.diagnose(CONFIG, nan, None, n_classes=10))[0] == "non_finite"
    growing = epochs([0.5, 0.4, 0.7, 0.9], [0.5, 0.45, 0.8, 1.0], [0.8] * 4, [0.8] * 4)
    first = doctor.diagnose(CONFIG, growing, None, n_classes=10)[0]
    assert first.kind == "diverging" and first.change == {"learning_rate": 1e-4}


def test_a_nan_loss_as_the_run_store_reads_it_back_is_found() -> None:
    """NaN is stored as missing (records keep finite numbers): an epoch with an accuracy
    but no loss is one whose loss was not a number."""
    stored = [
        EpochRecord.from_dict(r.to_dict())
        for r in epochs([0.9, math.nan], [0.8, math.nan], [0.7, 0.1], [0.7, 0.1])
    ]
    assert stored[1].loss is None
    (first, *_) = doctor.diagnose(CONFIG, stored, None, n_classes=10)
    assert first.kind == "non_finite" and "From epoch 2" in first.evidence
    # Records that never held a loss (only a validation accuracy) are not taken for NaN.
    assert doctor.diagnose(CONFIG, [EpochRecord(1, val_accuracy=0.9)], None, 10) == []


def test_a_loss_that_blows_up_offers_clipped_gradients_as_the_other_retry() -> None:
    nan = epochs([0.9, float("nan")], [0.8, float("nan")], [0.7, 0.1], [0.7, 0.1])
    growing = epochs([0.5, 0.4, 0.7, 0.9], [0.5, 0.45, 0.8, 1.0], [0.8] * 4, [0.8] * 4)
    for history in (nan, growing):
        first = doctor.diagnose(CONFIG, history, None, n_classes=10)[0]
        assert "clip gradients" in first.advice
        assert first.alternative == {"clipnorm": 1.0}
        retry = doctor.corrected_config(CONFIG, first, alternative=True)
        assert retry.optimizer.clipnorm == 1.0
        assert retry.optimizer.learning_rate == CONFIG.optimizer.learning_rate  # only the clip
        assert retry.name == "try · clip gradients at norm 1"
    # Already clipped: the lower rate is the one retry left.
    clipped = replace(CONFIG, optimizer=replace(CONFIG.optimizer, clipnorm=1.0))
    first = doctor.diagnose(clipped, nan, None, n_classes=10)[0]
    assert first.change and not first.alternative
    with pytest.raises(ValueError, match="suggests no change"):
        doctor.corrected_config(clipped, first, alternative=True)


def test_overfitting_from_rising_validation_loss_and_from_the_gap() -> None:
    rising = epochs(
        [0.8, 0.5, 0.3, 0.2, 0.1],
        [0.6, 0.5, 0.52, 0.58, 0.66],
        [0.7, 0.82, 0.9, 0.94, 0.97],
        [0.78, 0.83, 0.84, 0.84, 0.83],
    )
    finding = next(f for f in doctor.diagnose(CONFIG, rising, None, 10) if f.severity != "info")
    assert finding.kind == "overfitting" and "last 3 epochs" in finding.evidence
    assert "training accuracy 97.00% vs validation 83.00% (14.0 points apart)" in finding.evidence
    assert finding.change == {"dropout": 0.5}
    retry = doctor.corrected_config(CONFIG, finding)
    assert [d.dropout for d in retry.model.dense_layers] == [0.5]


def test_still_improving_at_the_end_suggests_more_epochs() -> None:
    history = epochs([1.0, 0.7, 0.5], [0.9, 0.7, 0.55], [0.7, 0.78, 0.83], [0.72, 0.78, 0.82])
    config = TrainConfig(model=CNN, fit=FitSpec(epochs=3))
    (finding,) = doctor.diagnose(config, history, None, n_classes=10)
    assert finding.kind == "underfitting" and finding.change == {"epochs": 6}
    # Early stopping ended it: not "still improving".
    stopped = TrainConfig(model=CNN, fit=FitSpec(epochs=10))
    assert doctor.diagnose(stopped, history, None, n_classes=10) == []


def test_validation_above_training_is_explained_by_dropout_and_augmentation() -> None:
    history = epochs([0.6, 0.5], [0.4, 0.35], [0.80, 0.83], [0.86, 0.88])
    config = TrainConfig(model=CNN, fit=FitSpec(epochs=2), augment=AugmentSpec(zoom=0.1))
    found = doctor.diagnose(config, history, None, n_classes=10)
    finding = next(f for f in found if f.kind == "val_above_train")
    assert "dropout and augmentation" in finding.advice and finding.severity == "info"


def test_a_weak_class_names_its_most_confused_partner() -> None:
    labels = np.arange(1000) % 10
    predicted = labels.copy()
    sixes = np.flatnonzero(labels == 6)
    predicted[sixes[:60]] = 0  # 6 read as 0 for 60 of its 100 images
    finding = class_checks.weak_class(evaluation_of(predicted, labels))
    assert finding is not None and "'6'" in finding.title and "taken for '0'" in finding.evidence
    assert "Recall 40.0%" in finding.evidence


def test_class_imbalance_from_the_training_counts() -> None:
    found = class_checks.class_imbalance([900, 100, 300], ["cats", "dogs", "birds"])
    assert found is not None and "9.0x fewer" in found.evidence and "69%" in found.advice
    assert class_checks.class_imbalance([300, 280, 310], ["a", "b", "c"]) is None


def test_a_finding_without_a_change_cannot_be_retried() -> None:
    finding = class_checks.class_imbalance([900, 100], ["a", "b"])
    with pytest.raises(ValueError, match="suggests no change"):
        doctor.corrected_config(CONFIG, finding)


@pytest.mark.slow
def test_real_trainings_a_learning_rate_of_one_collapses_a_small_cnn() -> None:
    from cnn_core.training.loop import train_run

    def trained(optimizer: OptimizerSpec) -> list[doctor.Finding]:
        config = TrainConfig(
            model=CNN,
            optimizer=optimizer,
            fit=FitSpec(epochs=2, batch_size=32, early_stopping=False),
            validation=100,
            seed=1,
        )
        folder = create_run(config)
        train_run(folder)
        run = load_run(folder.path)
        return doctor.diagnose(run.config, run.read_history(), run.read_evaluation())

    collapsed = trained(OptimizerSpec("sgd", 1.0, "constant"))
    assert collapsed and collapsed[0].severity == "problem"
    assert collapsed[0].kind in ("collapsed", "chance", "non_finite", "diverging")
    healthy = trained(OptimizerSpec("adam", 1e-3))
    assert not [f for f in healthy if f.severity == "problem"]


def test_learning_nothing_at_a_usual_rate_in_one_epoch_says_train_longer() -> None:
    history = epochs([2.31], [2.3026], [0.1], [0.1])
    config = TrainConfig(model=CNN, fit=FitSpec(epochs=1))  # Adam at 1e-3
    (finding,) = doctor.diagnose(config, history, None, n_classes=10)
    assert finding.kind == "chance" and finding.change == {"epochs": 2}
    assert "only 1 whole epoch" in finding.advice
    # The same curve after many epochs at a high rate blames the rate.
    long = epochs([2.31] * 4, [2.3026] * 4, [0.1] * 4, [0.1] * 4)
    high = TrainConfig(model=CNN, optimizer=OptimizerSpec("adam", 0.05))
    assert doctor.diagnose(high, long, None, n_classes=10)[0].change == {"learning_rate": 0.005}


@pytest.mark.slow
def test_a_real_training_on_imbalanced_imported_images_finds_the_imbalance(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker records the training split's class counts; the doctor reads them."""
    from cnn_core.data.user.importer import import_server_folder
    from cnn_core.data.user.options import ImageOptions
    from cnn_core.training.loop import train_run
    from tests.image_folder_support import own_data_dir, shapes_folder

    data = own_data_dir(tmp_path, monkeypatch)
    root = shapes_folder(data, per_class=60, size=24)
    for kind in ("square", "triangle"):  # 60 circles, 15 of each other shape
        for extra in sorted((root / "train" / kind).iterdir())[15:]:
            extra.unlink()
    options = ImageOptions(side=32, validation=0.2)
    key = import_server_folder("shapes", "shapes", options)
    fit = FitSpec(epochs=1, batch_size=16, early_stopping=False)
    folder = create_run(TrainConfig(dataset=key, model=CNN, fit=fit, seed=1))
    train_run(folder)
    run = load_run(folder.path)
    counts = run.status.train_class_counts
    assert counts is not None and len(counts) == 3 and counts[0] >= 3 * max(counts[1:])
    found = doctor.diagnose(run.config, run.read_history(), run.read_evaluation(), None, counts)
    imbalance = next(f for f in found if f.kind == "imbalance")
    assert imbalance.evidence.startswith(f"'circle' has {counts[0]:,} training images")
