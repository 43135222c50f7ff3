"""The training doctor on real tiny trainings: each run is trained by the worker's own loop
(`train_run`), stored, read back, and diagnosed from its records, as the pages do.

Each setting is chosen to produce one finding for a real reason (a huge SGD rate on an
ELU net blows the weights up; 200 real digits and a wide dense layer are memorised;
dropout 0.9 holds training accuracy down; a class drawn exactly like another cannot be
told apart), and a plain run produces none. Each test trains for a few seconds on
the synthetic data (`scripts/synthetic_data.py`) or a subset of real MNIST.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cnn_core.insight.doctor import diagnosis as doctor
from cnn_core.insight.doctor.verdict import run_findings
from cnn_core.insight.labels import run_badge, run_status_text
from cnn_core.schema.config import (
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    OptimizerSpec,
    TrainConfig,
)
from cnn_core.store.folder import create_run
from cnn_core.store.runs import RunSummary, load_run
from scripts.synthetic_data import synthetic_images, write_idx

pytestmark = pytest.mark.slow

SMALL = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 3),), dense_layers=(DenseLayer(32),))
# ELU (unbounded, never dead like ReLU) and two conv blocks: a huge rate makes the
# gradients, then the weights, grow until they overflow.
ELU = ModelSpec(
    kind="cnn",
    conv_blocks=(ConvBlock(16, 3, activation="elu"), ConvBlock(16, 3, activation="elu")),
    dense_layers=(DenseLayer(64),),
)


def trained(config: TrainConfig) -> tuple[RunSummary, list[doctor.Finding]]:
    """Train `config` through the worker's loop; the stored run and its findings."""
    from cnn_core.training.loop import train_run

    folder = create_run(config)
    train_run(folder)
    run = load_run(folder.path)
    return run, run_findings(run)


def kinds(findings: list[doctor.Finding]) -> list[str]:
    return [f.kind for f in findings]


def test_a_huge_sgd_rate_makes_the_loss_nan_and_clipping_keeps_it_finite() -> None:
    fit = FitSpec(epochs=2, batch_size=32, early_stopping=False)
    sgd = OptimizerSpec("sgd", 1.0, "constant", momentum=0.99)
    run, findings = trained(TrainConfig(model=ELU, optimizer=sgd, fit=fit, validation=100))
    nan = findings[0]
    assert nan.kind == "non_finite" and nan.severity == "problem", kinds(findings)
    assert run_status_text(run) == "completed · loss became NaN"
    assert run_badge(run).startswith(":orange-badge[:material/warning:")
    # The doctor's other retry, clipped gradients, trains the same net with finite losses.
    assert nan.alternative == {"clipnorm": 1.0}
    clipped, after = trained(doctor.corrected_config(run.config, nan, alternative=True))
    losses = [r.loss for r in clipped.read_history()]
    assert losses and all(v is not None and math.isfinite(v) for v in losses)
    assert "non_finite" not in kinds(after)


def test_a_tiny_real_subset_trained_long_without_dropout_overfits(
    shared_mnist: Path, monkeypatch
) -> None:
    monkeypatch.setenv("CNN_DATA_DIR", str(shared_mnist))
    wide = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 3),), dense_layers=(DenseLayer(256),))
    config = TrainConfig(
        model=wide,
        optimizer=OptimizerSpec("adam", 1e-3, "constant"),
        fit=FitSpec(epochs=12, batch_size=32, early_stopping=False),
        train_subset=300,  # 200 to learn from, 100 to validate on
        validation=100,
    )
    run, findings = trained(config)
    overfit = next(f for f in findings if f.kind == "overfitting")
    assert overfit.severity == "warning" and "points apart" in overfit.evidence
    assert not [f for f in findings if f.severity == "problem"]
    assert run_status_text(run) == "completed · overfitting"
    assert overfit.change == {"dropout": 0.25}  # the retry adds dropout


def test_heavy_dropout_puts_validation_above_training_and_it_is_explained() -> None:
    heavy = ModelSpec(
        kind="cnn", conv_blocks=(ConvBlock(8, 3),), dense_layers=(DenseLayer(64, 0.9),)
    )
    config = TrainConfig(
        model=heavy,
        optimizer=OptimizerSpec("adam", 1e-3, "constant"),
        fit=FitSpec(epochs=3, batch_size=32, early_stopping=False),
        validation=100,
    )
    run, findings = trained(config)
    above = next(f for f in findings if f.kind == "val_above_train")
    assert above.severity == "info" and "dropout act only while training" in above.advice
    assert doctor.healthy(findings), kinds(findings)  # a note, nothing wrong
    assert run_status_text(run) == "completed"


def look_alike_digits(root: Path) -> Path:
    """An MNIST-format CNN_DATA_DIR whose class 3 is drawn exactly like class 5."""
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for n, seed, prefix in ((600, 1, "train"), (200, 2, "t10k")):
        images, labels = synthetic_images(n, seed=seed)  # classes balanced
        images[labels == 3] = images[labels == 5]
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[..., 0])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def test_a_class_that_looks_like_another_is_the_weak_class_with_its_partner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_DATA_DIR", str(look_alike_digits(tmp_path / "look_alike")))
    config = TrainConfig(
        model=SMALL,
        fit=FitSpec(epochs=4, batch_size=32, early_stopping=False),
        validation=100,
    )
    run, findings = trained(config)
    weak = next(f for f in findings if f.kind == "weak_class")
    pair = {weak.title.split("'")[1], weak.evidence.rsplit("'", 2)[1]}
    assert pair == {"3", "5"}, weak  # the weak one and the one it was taken for
    recall = run.read_evaluation().per_class.recall
    others = [r for i, r in enumerate(recall) if i not in (3, 5)]
    assert min(recall[3], recall[5]) < 0.8 <= min(others)
    assert run_status_text(run) == "completed · one weak class"


def test_a_plain_run_on_learnable_data_has_no_findings_and_a_green_badge() -> None:
    config = TrainConfig(
        model=SMALL,
        fit=FitSpec(epochs=10, batch_size=32, patience=1),  # cosine decay, early stopping
        validation=100,
    )
    run, findings = trained(config)
    assert findings == [], [(f.kind, f.evidence) for f in findings]
    assert run.test_accuracy is not None and run.test_accuracy > 0.9
    assert run_badge(run) == ":green-badge[:material/check_circle: completed]"
    assert np.isfinite([r.loss for r in run.read_history()]).all()
