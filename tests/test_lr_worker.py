"""The learning-rate range test as a worker job: a real tiny run, bad input, a killed job."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base import settings, workspace
from cnn_core.base.errors import UserError
from cnn_core.schema.config import (
    LEARNING_RATE_RANGE,
    ConfigError,
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    TrainConfig,
    Vgg16Spec,
    validate,
)
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder
from cnn_core.store.lr_tests import create_lr_test, list_lr_tests, lr_test_folder
from cnn_core.store.processes import pid_alive
from cnn_core.store.runs import list_runs, load_run
from cnn_core.training import worker
from cnn_core.training.lr_finder import range_test_config, read_result
from cnn_core.training.worker import launch_lr_test
from tests.waiting import wait_for

TINY_CNN = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 3),), dense_layers=(DenseLayer(32),))
# The synthetic MNIST has 600 training images: 60 held out, 540 in batches of 9.
SIXTY_BATCHES = TrainConfig(model=TINY_CNN, fit=FitSpec(batch_size=9), validation=60, seed=3)


def ended(folder: RunFolder) -> bool:
    return not load_run(folder.path).active


@pytest.mark.slow
def test_a_range_test_runs_in_the_worker_and_stores_its_curve() -> None:
    folder, created = launch_lr_test(SIXTY_BATCHES)
    assert created
    again, created_again = launch_lr_test(SIXTY_BATCHES)  # one test at a time
    assert again == folder and not created_again
    wait_for(lambda: ended(folder), timeout=240, what="the range test to end")
    test = load_run(folder.path)
    assert test.state == RunState.COMPLETED, test.message
    assert test.config == range_test_config(SIXTY_BATCHES)
    result = read_result(folder)
    assert result is not None
    assert result.planned_steps == 60 and result.batch_size == 9
    assert 10 <= len(result.rates) <= 60
    assert np.all(np.diff(result.rates) > 0)
    assert len(result.losses) == len(result.smoothed) == len(result.rates)
    # Adam at rates up to 10 blows a small CNN up before the range ends.
    assert result.stop_reason == "diverged"
    assert result.suggestion is not None
    low, high = LEARNING_RATE_RANGE
    assert low <= result.suggestion.rate <= high
    assert result.suggestion.rate < result.rates[-1]
    # Never a training run: the run lists do not see it.
    assert list_runs() == []
    assert [t.run_id for t in list_lr_tests()] == [folder.run_id]


def test_the_range_test_trains_with_the_runs_label_smoothing(monkeypatch) -> None:
    from cnn_core.store.lr_tests import create_lr_test
    from cnn_core.training import lr_finder
    from cnn_core.training.lr_finder import run_range_test

    asked: list[tuple[float, int]] = []
    real = lr_finder.make_loss
    monkeypatch.setattr(lr_finder, "make_loss", lambda s, k: asked.append((s, k)) or real(s, k))
    smoothed = replace(SIXTY_BATCHES, fit=FitSpec(batch_size=9, label_smoothing=0.2))
    folder = create_lr_test(range_test_config(smoothed))
    assert run_range_test(folder) == RunState.COMPLETED
    assert asked == [(0.2, 10)]  # the run's loss, over the dataset's ten classes


def test_a_config_the_validator_refuses_gets_trains_messages() -> None:
    bad = TrainConfig(model=TINY_CNN, fit=FitSpec(batch_size=0))
    with pytest.raises(ConfigError) as refused:
        launch_lr_test(bad)
    with pytest.raises(ConfigError) as by_train:
        validate(bad, (28, 28, 1), 600)
    assert refused.value.problems == by_train.value.problems
    assert list_lr_tests() == []


def test_vgg16_is_refused_with_the_reason() -> None:
    vgg = TrainConfig(model=ModelSpec(kind="vgg16", vgg16=Vgg16Spec(weights="none")))
    with pytest.raises(UserError, match="VGG16 run trains its head on cached"):
        launch_lr_test(vgg)
    assert list_lr_tests() == []


def kill_worker(folder: RunFolder) -> None:
    pid = folder.read_status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=30, what="the worker to die")


def test_a_killed_test_reads_as_interrupted() -> None:
    folder, _ = launch_lr_test(SIXTY_BATCHES)
    kill_worker(folder)
    assert load_run(folder.path).state == RunState.INTERRUPTED
    # The next launch starts a fresh test instead of waiting for the dead one.
    fresh, created = launch_lr_test(SIXTY_BATCHES)
    try:
        assert created and fresh != folder
    finally:
        kill_worker(fresh)


def test_a_range_test_belongs_to_its_workspace(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = workspace.new_workspace_id(), workspace.new_workspace_id()
    current = {"ws": alice}
    monkeypatch.setenv(settings.PRIVATE_WORKSPACES, "1")
    monkeypatch.setattr(workspace, "_resolver", lambda: current["ws"])
    test = create_lr_test(TrainConfig())
    assert test.runs_root == isolated_store.resolve() / workspace.WORKSPACES_DIR / alice
    assert [t.run_id for t in list_lr_tests()] == [test.run_id]
    assert list_runs() == []
    current["ws"] = bob
    assert list_lr_tests() == []
    assert not lr_test_folder(test.run_id).path.exists()  # bob's id resolves in bob's


@pytest.mark.slow
def test_a_range_test_never_waits_for_a_training_slot(
    isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_MAX_TRAININGS", "1")
    slot = worker._try_slot(workspace.store_of(isolated_store))  # a training holds it
    assert slot is not None
    with slot:
        assert worker._try_slot(workspace.store_of(isolated_store)) is None  # none left
        folder, _ = launch_lr_test(SIXTY_BATCHES)
        wait_for(lambda: ended(folder), timeout=240, what="the range test beside a training")
        assert load_run(folder.path).state == RunState.COMPLETED
