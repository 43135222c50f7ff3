"""The one training loop: a run's phases fit in turn, then it is saved and evaluated.

`train_run` is called by `cnn_core.training.worker` with a run folder that already
holds its config. It loads and splits the data, builds the model, and runs the run's
phases (`cnn_core.training.plan.Phase`): one for a CNN, the head and fine-tuning for a
pretrained VGG16 (`cnn_core.training.vgg16_phases`). Every phase fits with the same
recorder and callbacks (`cnn_core.training.callbacks`), numbering epochs on; the run
then saves its model, evaluates it on the test set and records how it ended.
Everything it learns goes into the folder through `store.folder.RunFolder`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnn_core.data.registry import Dataset, class_counts, load_dataset, split_indices
from cnn_core.data.user.pixels import PixelStore
from cnn_core.data.user.stream import stream
from cnn_core.models.cnn import build_model, load_trained_model, make_loss, make_optimizer
from cnn_core.models.evaluate import evaluate_model
from cnn_core.models.precision import float32_copy, precision_scope
from cnn_core.schema.config import TrainConfig, validate, validation_count
from cnn_core.schema.records import Evaluation, RunState
from cnn_core.store.folder import RunFolder
from cnn_core.training.callbacks import STOP_STEPS, make_recorder, training_callbacks
from cnn_core.training.distribute import Placement, make_placement
from cnn_core.training.plan import Phase, StoppedBeforeTraining, later_work
from cnn_core.training.vgg16_phases import vgg16_phases, vgg16_status


def train_run(folder: RunFolder, strategy: str = "default") -> RunState:
    """Train, evaluate and save the run in `folder`; return its final state.

    Stop while the phases are prepared (VGG16's feature extraction) ends the run
    as stopped with nothing trained: no model, no evaluation.

    Args:
        folder: the run, holding its config.
        strategy: a `cnn_core.training.distribute` strategy; the config's batch size is per
            replica, so the global batch is batch size x replicas.

    Raises:
        UserError: bad config, missing dataset or weights, or unusable strategy (the
            worker records the message).
    """
    placement = make_placement(strategy)  # before any other TensorFlow work
    config = folder.read_config()
    dataset = load_dataset(config.dataset, download=True)
    info = dataset.info
    validate(config, info.image_shape, len(dataset.y_train))
    n_val = validation_count(config, len(dataset.y_train))
    train_idx, val_idx = split_indices(dataset.y_train, n_val, config.seed, config.train_subset)
    with placement.scope(), precision_scope(config.fit.mixed_precision):
        model = build_model(
            config.model, info.image_shape, len(info.class_names), config.seed, config.augment
        )
    write_start(folder, config, dataset, train_idx, val_idx, placement)
    start = time.perf_counter()
    try:
        phases = plan_phases(folder, model, config, dataset, train_idx, val_idx)
    except StoppedBeforeTraining as stop:
        folder.write_status(RunState.STOPPED, ended=time.time(), message=str(stop))
        return RunState.STOPPED
    last, stopped = fit_phases(folder, model, phases, len(train_idx), placement)
    train_seconds = time.perf_counter() - start
    announce_stop_step(folder, stopped, "save")
    model = float32_copy(model)  # what is saved is evaluated: float32 on any machine
    folder.save_model(model)
    if placement.strategy is not None:  # evaluate on one device: batched calls of a
        model = load_trained_model(folder.model_path)  # mirrored model return every replica's
    announce_stop_step(folder, stopped, "evaluate")
    tested, x_test = last.test_data(model)
    evaluation, probs = evaluate_model(
        tested, x_test, dataset.y_test, info.class_names, mirror=config.augment.mirror_average
    )
    return finish_run(folder, evaluation, probs, dataset.y_test, train_seconds, stopped)


def write_start(
    folder: RunFolder,
    config: TrainConfig,
    dataset: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    placement: Placement,
) -> None:
    """Record in the run's status what it trains on, and where (before anything trains)."""
    info = dataset.info
    y_train = dataset.y_train[train_idx]
    extra = vgg16_status(config, info) if config.model.kind == "vgg16" else {}
    folder.write_status(
        RunState.RUNNING,
        n_train=len(train_idx),
        n_val=len(val_idx),
        train_class_counts=class_counts(y_train, len(info.class_names)).tolist(),
        train_started=time.time(),
        strategy=placement.name,
        devices=list(placement.devices),
        replicas=placement.replicas,
        **extra,
    )


def plan_phases(
    folder: RunFolder,
    model: Any,
    config: TrainConfig,
    dataset: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
) -> list[Phase]:
    """The phases the run trains: a VGG16 run's from `vgg16_phases`, a CNN's one.

    Raises:
        StoppedBeforeTraining: Stop came while VGG16's features were computed.
    """
    if config.model.kind == "vgg16":
        return vgg16_phases(folder, model, config, dataset, train_idx, val_idx)
    return [one_phase(model, config, dataset, train_idx, val_idx)]


def one_phase(
    model: Any, config: TrainConfig, dataset: Dataset, train_idx: np.ndarray, val_idx: np.ndarray
) -> Phase:
    """The single phase of a CNN run: the whole model on the images (`fit_data`)."""
    return Phase(
        name=None,
        config=config,
        fit_model=lambda: model,
        fit_data=lambda batch: fit_data(dataset, train_idx, val_idx, batch, config.seed),
        test_data=lambda trained: (trained, dataset.x_test),
    )


def fit_phases(
    folder: RunFolder, model: Any, phases: Sequence[Phase], n_train: int, placement: Placement
) -> tuple[Phase, bool]:
    """Fit each phase in turn, its epochs numbered on from the last phase's.

    A phase that stops early (early stopping) hands on to the next; Stop ends them all.
    The run's whole model is saved after every epoch, whatever part of it a phase fits.

    Returns:
        (the last phase that trained, whether Stop ended it).
    """
    done, started = 0, time.perf_counter()
    for index, phase in enumerate(phases):
        fit = phase.config.fit
        global_batch = fit.batch_size * placement.replicas
        batches = math.ceil(n_train / global_batch)
        with placement.scope():
            fit_model = phase.fit_model()
            compile_for_run(fit_model, phase.config, batches)
        later_epochs, later_cost = later_work(phases, index)
        recorder = make_recorder(
            folder,
            done + fit.epochs + later_epochs,
            batches,
            phase.name,
            saved_model=model,
            later_epochs=later_epochs,
            later_cost=later_cost,
            started=started,
        )
        history = fit_model.fit(
            **phase.fit_data(global_batch),
            initial_epoch=done,
            epochs=done + fit.epochs,
            callbacks=[recorder, *training_callbacks(phase.config, folder)],
            verbose=2,
        )
        done += len(history.epoch)
        if recorder.stopped:
            return phase, True
    return phases[-1], False


def compile_for_run(model: Any, config: TrainConfig, batches: int) -> None:
    """Compile `model` with the config's optimizer and schedule (`batches` per epoch)."""
    decay_steps = config.fit.epochs * batches if config.optimizer.schedule == "cosine" else 0
    model.compile(
        optimizer=make_optimizer(config.optimizer, decay_steps),
        loss=make_loss(config.fit.label_smoothing, int(model.output_shape[-1])),
        metrics=["accuracy"],
    )


def fit_data(
    dataset: Any, train_idx: np.ndarray, val_idx: np.ndarray, batch_size: int, seed: int
) -> dict[str, Any]:
    """`model.fit` arguments for the training and validation images.

    Imported image folders (`PixelStore` images) stream from disk through tf.data;
    built-in uint8 arrays go in as they are: the model's float32 input casts each
    batch, which keeps a whole float32 copy of the training set (~200 MB) out of memory.
    """
    x, y = dataset.x_train, dataset.y_train
    if isinstance(x, PixelStore):
        return {
            "x": stream(x.subset(train_idx), y[train_idx], batch_size, shuffle=True, seed=seed),
            "validation_data": stream(x.subset(val_idx), y[val_idx], batch_size, shuffle=False),
            "shuffle": False,  # the stream shuffles itself, each epoch anew
        }
    return {
        "x": x[train_idx],
        "y": y[train_idx],
        "validation_data": (x[val_idx], y[val_idx]),
        "batch_size": batch_size,
    }


def announce_stop_step(folder: RunFolder, stopped: bool, step: str) -> None:
    """Say in a stopping run's status what it does now (a `STOP_STEPS` key)."""
    if stopped:
        folder.write_status(RunState.RUNNING, message=STOP_STEPS[step])


def finish_run(
    folder: RunFolder,
    evaluation: Evaluation,
    probs: np.ndarray,
    y_test: np.ndarray,
    train_seconds: float,
    stopped: bool,
) -> RunState:
    """Store the test results and the final status of a trained run; return its state."""
    folder.save_evaluation(evaluation, probs, y_test)
    state = RunState.STOPPED if stopped else RunState.COMPLETED
    folder.write_status(
        state,
        train_seconds=train_seconds,
        test_accuracy=evaluation.accuracy,
        ended=time.time(),
        message="stopped by the user" if stopped else "",
    )
    return state
