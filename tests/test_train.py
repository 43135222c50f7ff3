"""The training recipe a run's config turns into: optimizer schedule and callbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn_core.models.cnn import make_optimizer
from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
from cnn_core.store.folder import RunFolder
from cnn_core.training.callbacks import STOP_STEPS, training_callbacks


def rate(optimizer) -> float:
    return float(np.asarray(optimizer.learning_rate))


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_cosine_decay_glides_from_the_rate_to_zero(name: str) -> None:
    optimizer = make_optimizer(OptimizerSpec(name, 0.1, momentum=0.9), decay_steps=100)
    assert rate(optimizer) == pytest.approx(0.1)
    optimizer.iterations.assign(50)
    assert rate(optimizer) == pytest.approx(0.05, rel=1e-4)
    optimizer.iterations.assign(100)
    assert rate(optimizer) == pytest.approx(0.0, abs=1e-7)


def test_a_constant_rate_stays_put() -> None:
    optimizer = make_optimizer(OptimizerSpec("adam", 0.01))
    optimizer.iterations.assign(10_000)
    assert rate(optimizer) == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_gradient_clipping_reaches_the_keras_optimizer(name: str) -> None:
    assert make_optimizer(OptimizerSpec(name, 0.01, clipnorm=1.5)).clipnorm == 1.5
    assert make_optimizer(OptimizerSpec(name, 0.01)).clipnorm is None  # 0 = off


def test_a_clipped_update_moves_the_weights_at_most_rate_times_norm() -> None:
    import tensorflow as tf

    weight = tf.Variable([0.0, 0.0])
    optimizer = make_optimizer(OptimizerSpec("sgd", 0.1, "constant", momentum=0.0, clipnorm=1.0))
    optimizer.apply_gradients([(tf.constant([300.0, 400.0]), weight)])  # norm 500
    assert np.linalg.norm(weight.numpy()) == pytest.approx(0.1, rel=1e-5)  # not 50


def kinds(callbacks: list) -> list[str]:
    return [type(c).__name__ for c in callbacks]


def test_plateau_schedule_halves_the_rate_on_a_stalled_validation_loss(tmp_path: Path) -> None:
    config = TrainConfig(
        optimizer=OptimizerSpec(learning_rate=0.01, schedule="plateau"),
        fit=FitSpec(early_stopping=False),
    )
    callbacks = training_callbacks(config, RunFolder(tmp_path))
    assert kinds(callbacks) == ["TensorBoard", "ReduceLROnPlateau"]
    plateau = callbacks[1]
    assert plateau.monitor == "val_loss"
    assert plateau.factor == 0.5
    assert plateau.min_lr == pytest.approx(0.0001)


def test_cosine_and_early_stopping_callbacks(tmp_path: Path) -> None:
    config = TrainConfig(
        optimizer=OptimizerSpec(schedule="cosine"), fit=FitSpec(early_stopping=True, patience=4)
    )
    callbacks = training_callbacks(config, RunFolder(tmp_path))
    assert kinds(callbacks) == ["TensorBoard", "EarlyStopping"]
    assert callbacks[1].patience == 4
    assert callbacks[1].restore_best_weights is True


@pytest.mark.slow
def test_a_short_batch_norm_run_settles_its_test_time_statistics() -> None:
    """The moving statistics used at test time must settle within a short run.

    500 training images, batch 32, 2 epochs = 32 updates: with Keras' default
    momentum 0.99 the moving mean would still be about 70% its initial 0.
    """
    from cnn_core.base.tf_runtime import import_keras
    from cnn_core.data.registry import load_dataset
    from cnn_core.models.cnn import load_trained_model
    from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec
    from cnn_core.store.folder import create_run
    from cnn_core.training.loop import train_run

    spec = ModelSpec(
        kind="cnn",
        conv_blocks=(ConvBlock(8, 3, batch_norm=True), ConvBlock(16, 3, batch_norm=True)),
        dense_layers=(DenseLayer(32),),
    )
    config = TrainConfig(
        model=spec,
        fit=FitSpec(epochs=2, batch_size=32, early_stopping=False),
        validation=100,
        seed=1,
    )
    folder = create_run(config)
    assert train_run(folder) == "completed"
    assert folder.read_evaluation().accuracy > 0.3  # ten classes: chance is 0.1

    model = load_trained_model(folder.model_path)
    keras = import_keras()
    conv1 = keras.Model(model.input, model.get_layer("conv1").output)
    images = load_dataset("mnist").x_train[:500].astype(np.float32)
    actual = np.asarray(conv1(images)).mean(axis=(0, 1, 2))
    moving = np.asarray(model.get_layer("bn1").moving_mean)
    assert np.abs(actual).max() > 0.05  # the check below is not trivially met
    np.testing.assert_allclose(moving, actual, rtol=0.25, atol=0.02)


# ----------------------------------------------------------------------------- ETA


class Clock:
    """A stand-in for the `time` module whose clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return 1.7e9 + self.now


def compiled_model():
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from cnn_core.training import callbacks

    fake = Clock()
    monkeypatch.setattr(callbacks, "time", fake)
    monkeypatch.setattr(callbacks, "PROGRESS_INTERVAL_S", 0.0)  # write on every batch
    return fake


def test_a_fine_tuning_recorder_rates_only_the_batches_it_timed(
    tmp_path: Path, clock: Clock
) -> None:
    """Fine-tuning starts at epoch 3 of 5 (10 batches each) after 60 s of head training."""
    from cnn_core.training.callbacks import make_recorder

    folder = RunFolder(tmp_path)
    head_start = clock.now - 60.0
    recorder = make_recorder(folder, epochs=5, batches=10, phase="fine-tune", started=head_start)
    recorder.set_model(compiled_model())
    recorder.on_train_begin()
    recorder.on_epoch_begin(3)  # Keras' initial_epoch=3
    clock.now += 8.0
    recorder.on_train_batch_end(3, {"loss": 1.0})  # 4 batches in 8 s: 2 s a batch
    progress = folder.read_progress()
    assert (progress.epoch, progress.batch) == (4, 4)
    assert progress.eta == pytest.approx((2 * 10 - 4) * 2.0)  # 16 batches left
    assert progress.elapsed == pytest.approx(68.0)  # since the run's training began
    # The head's 30 batches do not count as timed by this fit: the old rate,
    # 34 batches in 8 s, would have promised under 4 s.
    assert progress.eta > 30.0


def test_a_head_recorder_weighs_the_fine_tuning_epochs_ahead(tmp_path: Path, clock: Clock) -> None:
    """Head: 2 epochs of 10 batches, then 3 fine-tuning epochs each costing 5 head epochs."""
    from cnn_core.training.callbacks import make_recorder

    folder = RunFolder(tmp_path)
    recorder = make_recorder(folder, epochs=5, batches=10, later_epochs=3, later_cost=5.0)
    recorder.set_model(compiled_model())
    recorder.on_train_begin()
    recorder.on_epoch_begin(0)
    clock.now += 2.0
    recorder.on_train_batch_end(3, {"loss": 1.0})  # 4 batches in 2 s: 0.5 s a batch
    progress = folder.read_progress()
    assert progress.epochs == 5
    head_left, tuning = 2 * 10 - 4, 3 * 10 * 5.0
    assert progress.eta == pytest.approx((head_left + tuning) * 0.5)
    assert progress.elapsed == pytest.approx(2.0)


def test_the_phase_costs_come_from_the_estimate_of_how_the_run_trains() -> None:
    from dataclasses import replace

    from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD, vgg16_spec
    from cnn_core.models.vgg16_estimate import estimate_seconds
    from cnn_core.training.vgg16_phases import phase_epoch_costs

    config = TrainConfig(
        dataset="cifar10",
        model=vgg16_spec("fine_tune", 32, weights="none"),
        fit=FitSpec(batch_size=32, epochs=2),
    )
    shape = (32, 32, 3)
    cached = phase_epoch_costs(config, shape, 10, 1000, features={})
    estimate = estimate_seconds(config, shape, 10, 1000)
    assert cached == {PHASE_HEAD: estimate[PHASE_HEAD], PHASE_FINE_TUNE: estimate[PHASE_FINE_TUNE]}
    full = phase_epoch_costs(config, shape, 10, 1000, features=None)  # over the cache's cap
    vgg = replace(config.model.vgg16, cache_features=False)
    uncached = estimate_seconds(
        replace(config, model=replace(config.model, vgg16=vgg)), shape, 10, 1000
    )
    assert full[PHASE_HEAD] == pytest.approx(uncached[PHASE_HEAD])
    # On cached features the head is nearly free: fine-tuning weighs far more.
    assert (
        cached[PHASE_FINE_TUNE] / cached[PHASE_HEAD] > 5 * full[PHASE_FINE_TUNE] / full[PHASE_HEAD]
    )


def stop_run_fit(folder: RunFolder, stop_hook: str, at_epoch: int, at_batch: int = 0):
    """Fit a tiny model for 4 epochs of 8 batches with the run recorder and early
    stopping, pressing Stop (writing the stop file) at the `stop_hook` callback
    ("on_train_batch_begin" or "on_test_begin") of epoch `at_epoch` (0-based).

    Returns:
        (recorder, the val_loss each epoch's logs held for the callbacks after it).
    """
    from cnn_core.base.tf_runtime import import_keras
    from cnn_core.training.callbacks import make_recorder

    keras = import_keras()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 2)).astype("float32"), rng.normal(size=(64, 1))
    model = compiled_model()

    class PressStop(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if stop_hook == "on_train_batch_begin" and (self.epoch, batch) == (at_epoch, at_batch):
                folder.request_stop()

        def on_test_begin(self, logs=None):
            if stop_hook == "on_test_begin" and self.epoch == at_epoch:
                folder.request_stop()

    seen: list = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(logs.get("val_loss"))

    recorder = make_recorder(folder, epochs=4, batches=8)
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        validation_data=(x[:16], y[:16]),
        callbacks=[PressStop(), recorder, Watch(), early],
        verbose=0,
    )
    return recorder, seen


def test_stop_mid_epoch_records_a_partial_epoch_early_stopping_never_sees(
    tmp_path: Path,
) -> None:
    folder = RunFolder(tmp_path)
    recorder, seen = stop_run_fit(folder, "on_train_batch_begin", at_epoch=1, at_batch=2)
    history = folder.read_history()
    assert [(r.epoch, r.partial) for r in history] == [(1, False), (2, True)]
    assert (history[0].batches, history[1].batches) == (None, 3)  # batches 0, 1 and 2
    assert folder.read_progress().batch == 3  # not shown as a whole epoch done
    assert history[0].val_loss is not None and history[0].loss is not None
    # The partial epoch's validation was cut short: no metrics for it anywhere.
    assert (history[1].val_loss, history[1].val_accuracy) == (None, None)
    assert seen[0] is not None and seen[1] is None  # what EarlyStopping was given
    assert history[1].loss is not None  # its running loss over the batches it did train
    assert recorder.stopped
    assert folder.read_status().message == STOP_STEPS["epoch"]  # what the page shows


def test_stop_during_validation_keeps_the_whole_epoch_and_starts_no_other(
    tmp_path: Path,
) -> None:
    folder = RunFolder(tmp_path)
    recorder, seen = stop_run_fit(folder, "on_test_begin", at_epoch=0)
    history = folder.read_history()
    assert [(r.epoch, r.partial) for r in history] == [(1, False)]
    assert history[0].val_loss is not None and seen == [history[0].val_loss]
    assert recorder.stopped


def test_stop_after_an_epochs_last_batch_keeps_it_whole(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    recorder, _ = stop_run_fit(folder, "on_train_batch_begin", at_epoch=0, at_batch=7)
    (record,) = folder.read_history()
    assert not record.partial and record.val_loss is not None
    assert recorder.stopped
