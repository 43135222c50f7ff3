"""Mixed precision and label smoothing: the fast recipe's two training settings.

A real (tiny) run with both trains, saves a float32 model that predicts what its
stored evaluation says, leaves Keras' global policy as it found it, and travels in a
bundle; the smoothed loss is the textbook one; the config refuses what cannot work;
the CPU check reads Linux's flags.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn_core.base import cpu
from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.registry import load_dataset
from cnn_core.models.cnn import load_trained_model, make_loss
from cnn_core.models.precision import is_mixed, precision_scope
from cnn_core.schema.config import (
    AugmentSpec,
    ConfigError,
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    TrainConfig,
    Vgg16Spec,
    validate,
)
from cnn_core.sharing import bundles
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.training.loop import train_run

SMALL = ModelSpec(
    kind="cnn", conv_blocks=(ConvBlock(8, 3), ConvBlock(16, 3)), dense_layers=(DenseLayer(32),)
)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> RunFolder:
    """A completed run trained in mixed precision with label smoothing and flips."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_DATA_DIR", str(synthetic_data_dir))
        patch.setenv("CNN_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
        config = TrainConfig(
            model=SMALL,
            fit=FitSpec(
                batch_size=32,
                epochs=3,
                early_stopping=False,
                label_smoothing=0.1,
                mixed_precision=True,
            ),
            augment=AugmentSpec(flip="horizontal"),
            validation=100,
            seed=2,
        )
        folder = create_run(config)
        assert train_run(folder) == "completed"
    return folder


@pytest.mark.slow
def test_a_mixed_precision_run_learns_and_saves_a_float32_model(mixed_run: RunFolder) -> None:
    keras = import_keras()
    assert keras.mixed_precision.global_policy().name == "float32"  # nothing leaked
    evaluation = mixed_run.read_evaluation()
    assert evaluation.accuracy > 0.3  # ten classes: chance is 0.1
    model = load_trained_model(mixed_run.model_path)
    assert not is_mixed(model)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert len(mixed_run.read_history()) == 3
    # the stored test predictions are the saved model's own
    probs, _ = mixed_run.read_predictions()
    x_test = load_dataset("mnist").x_test.astype(np.float32)
    again = model.predict(x_test, batch_size=256, verbose=0)
    np.testing.assert_allclose(again, probs, atol=1e-4)


@pytest.mark.slow
def test_a_mixed_precision_smoothed_run_travels_in_a_bundle(
    mixed_run: RunFolder, isolated_store: Path
) -> None:
    imported = bundles.import_bundle(bundles.export_bundle(mixed_run), isolated_store)
    assert imported.read_config() == mixed_run.read_config()
    assert imported.model_path.read_bytes() == mixed_run.model_path.read_bytes()


def test_the_smoothed_loss_is_cross_entropy_against_smoothed_targets() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([0, 1, 2, 3, 1, 0])
    s, k = 0.2, 4
    targets = np.full((6, k), s / k)
    targets[np.arange(6), labels] += 1 - s
    expected = -(targets * np.log(probs)).sum(axis=1)
    loss = make_loss(s, k)
    got = np.asarray(loss(labels.reshape(-1, 1), probs.astype(np.float32)))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert make_loss(0.0, k) == "sparse_categorical_crossentropy"  # off: Keras' own


def test_the_precision_scope_puts_the_policy_back_even_after_an_error() -> None:
    keras = import_keras()
    with pytest.raises(RuntimeError), precision_scope(True):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        raise RuntimeError("a build that failed")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_the_config_refuses_what_cannot_train() -> None:
    shape = (28, 28, 1)
    with pytest.raises(ConfigError, match="label smoothing must be between 0 and 0.5"):
        validate(TrainConfig(fit=FitSpec(label_smoothing=0.7)), shape, 1000)
    vgg = ModelSpec(kind="vgg16", vgg16=Vgg16Spec(weights="none"))
    with pytest.raises(ConfigError, match="VGG16 trains in float32"):
        validate(TrainConfig(model=vgg, fit=FitSpec(mixed_precision=True)), shape, 1000)
    with pytest.raises(ConfigError, match="mixed precision must be on or off"):
        not_a_bool: bool = "yes"  # type: ignore[assignment]
        validate(TrainConfig(fit=FitSpec(mixed_precision=not_a_bool)), shape, 1000)
    validate(TrainConfig(fit=FitSpec(label_smoothing=0.1, mixed_precision=True)), shape, 1000)


def test_a_config_saved_before_the_settings_existed_loads_with_them_off() -> None:
    record = TrainConfig().to_dict()
    for key in ("label_smoothing", "mixed_precision"):
        del record["fit"][key]
    loaded = TrainConfig.from_dict(record)
    assert (loaded.fit.label_smoothing, loaded.fit.mixed_precision) == (0.0, False)
    with pytest.raises(UserError, match="malformed"):
        TrainConfig.from_dict({**record, "fit": {**record["fit"], "precision": "half"}})


def test_the_cpu_check_reads_linux_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    amx = "processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n\nprocessor\t: 1\n"
    assert "amx_bf16" in cpu.cpu_flags(amx)
    two = "model name\t: First CPU\ncpu MHz\t\t: 2100.5\n\nmodel name\t: Second CPU\n"
    assert cpu.cpuinfo_field(two, "model name") == "First CPU"  # the first processor's
    assert cpu.cpuinfo_field(two, "cpu MHz") == "2100.5"
    assert cpu.cpuinfo_field(two, "flags") is None and cpu.cpu_flags(two) == frozenset()
    older = "processor\t: 0\nflags\t\t: fpu sse avx2 fma\n"
    for text, expected in ((amx, True), (older, False), ("", False)):
        info = tmp_path / "cpuinfo"
        info.write_text(text)
        monkeypatch.setattr(cpu, "CPUINFO", info)
        cpu.has_bfloat16.cache_clear()
        assert cpu.has_bfloat16() is expected
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "missing")
    cpu.has_bfloat16.cache_clear()
    assert cpu.has_bfloat16() is False  # unknown: no
    cpu.has_bfloat16.cache_clear()
