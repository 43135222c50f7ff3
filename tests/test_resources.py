"""Fitting the machine: the memory guard before a training, and a disk that fills up."""

from __future__ import annotations

import errno
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.data.registry import dataset_info
from cnn_core.schema.config import FitSpec, TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store import folder as folder_module
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.runs import load_run
from cnn_core.training import resources
from cnn_core.training.worker import launch_run, run_worker
from tests.apptest_support import open_app, texts
from tests.test_worker import TINY_CNN, finished
from tests.waiting import wait_for

MB = resources.MB
MNIST = dataset_info("mnist")


def write_cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cgroup_v2_limit_less_the_working_set(tmp_path: Path) -> None:
    root = write_cgroup(
        tmp_path,
        {
            "memory.max": f"{2700 * MB}\n",
            "memory.current": f"{900 * MB}\n",
            "memory.stat": f"anon {600 * MB}\ninactive_file {200 * MB}\n",
        },
    )
    assert resources.cgroup_memory(root) == (2700 * MB, 700 * MB, "cgroup v2")
    free = resources.available_memory(root)
    assert free.free == 2000 * MB and "cgroup v2" in free.text()


def test_cgroup_v1_and_no_limit(tmp_path: Path) -> None:
    v1 = write_cgroup(
        tmp_path / "v1",
        {
            "memory/memory.limit_in_bytes": str(1024 * MB),
            "memory/memory.usage_in_bytes": str(300 * MB),
            "memory/memory.stat": f"total_inactive_file {100 * MB}\n",
        },
    )
    assert resources.cgroup_memory(v1) == (1024 * MB, 200 * MB, "cgroup v1")
    unlimited = write_cgroup(tmp_path / "max", {"memory.max": "max\n"})
    assert resources.cgroup_memory(unlimited) is None
    huge = write_cgroup(tmp_path / "huge", {"memory/memory.limit_in_bytes": str(2**63 - 4096)})
    assert resources.cgroup_memory(huge) is None


def test_estimate_grows_with_batch_data_and_replicas() -> None:
    small = TrainConfig(model=TINY_CNN, fit=FitSpec(batch_size=32), train_subset=1000)
    base = resources.estimate_training_memory(small, MNIST)
    bigger_batch = resources.estimate_training_memory(
        replace(small, fit=FitSpec(batch_size=1024)), MNIST
    )
    more_data = resources.estimate_training_memory(replace(small, train_subset=50000), MNIST)
    assert bigger_batch.model > base.model and bigger_batch.dataset == base.dataset
    assert more_data.dataset - base.dataset == 49000 * 28 * 28
    assert resources.estimate_training_memory(small, MNIST, replicas=2).model == 2 * base.model
    assert base.total > resources.RUNTIME_BYTES


def test_the_guard_refuses_what_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    config = TrainConfig(model=TINY_CNN)
    monkeypatch.setenv("CNN_MEMORY_LIMIT_MB", "400")
    with pytest.raises(UserError, match="not enough memory.*Lower the batch size"):
        resources.check_training_memory(config, MNIST)
    monkeypatch.setenv("CNN_MEMORY_LIMIT_MB", "64000")
    assert resources.check_training_memory(config, MNIST).total < 64000 * MB
    monkeypatch.setenv("CNN_MEMORY_LIMIT_MB", "lots")
    with pytest.raises(UserError, match="CNN_MEMORY_LIMIT_MB must be"):
        resources.available_memory()


def test_largest_admitted_subset_is_the_boundary() -> None:
    config = TrainConfig(model=TINY_CNN)
    free = resources.estimate_training_memory(replace(config, train_subset=20000), MNIST).total
    n = resources.largest_admitted_subset(config, MNIST, free)
    assert n == 20000
    assert resources.largest_admitted_subset(config, MNIST, 10**12) == MNIST.n_train


@pytest.mark.slow
def test_a_refused_run_fails_with_the_message_on_the_train_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CNN_MEMORY_LIMIT_MB", "300")  # inherited by the worker process
    folder, _ = launch_run(TrainConfig(model=TINY_CNN, fit=FitSpec(epochs=1)))
    wait_for(lambda: finished(folder), timeout=120, what="the worker to refuse")
    run = load_run(folder.path)
    assert run.state == RunState.FAILED
    assert "not enough memory" in run.message and "300 MB" in run.message
    assert run.epochs_done == 0 and not run.has_model
    shown = texts(open_app("pages/train.py"))
    assert "Training failed: not enough memory" in shown


# A full disk ----------------------------------------------------------------------


def disk_full(path: object) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def inject_model_save_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second model save writes half a file, then the disk is full."""
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    save, calls = keras.Model.save, []

    def failing_save(model: object, path: object, *args: object, **kwargs: object) -> None:
        calls.append(path)
        if len(calls) == 2:
            Path(str(path)).write_bytes(b"PK\x03\x04 half a zip")
            raise disk_full(path)
        save(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", failing_save)


def inject_metrics_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second epoch's line does not fit on the disk."""
    append = RunFolder.append_epoch

    def failing_append(folder: RunFolder, record: object) -> None:
        if record.epoch == 2:
            raise disk_full(folder.metrics_path)
        append(folder, record)

    monkeypatch.setattr(RunFolder, "append_epoch", failing_append)


def inject_evaluation_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The predictions file fills the disk half way."""

    def failing_savez(handle: object, **arrays: object) -> None:
        handle.write(b"PK\x03\x04 half")
        raise disk_full(".predictions.tmp.npz")

    monkeypatch.setattr(folder_module.np, "savez_compressed", failing_savez)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("inject", "epochs_kept"),
    [
        (inject_model_save_failure, 1),
        (inject_metrics_failure, 1),
        (inject_evaluation_failure, 2),
    ],
    ids=["model", "metrics", "evaluation"],
)
def test_a_full_disk_fails_the_run_and_keeps_earlier_files(
    monkeypatch: pytest.MonkeyPatch, inject: object, epochs_kept: int
) -> None:
    other = create_run(TrainConfig(name="other"))
    other.write_status(RunState.COMPLETED)
    other_files = {p.name: p.read_bytes() for p in other.path.iterdir()}
    folder = create_run(TrainConfig(model=TINY_CNN, fit=FitSpec(epochs=2, batch_size=64)))
    config_before = folder.config_path.read_bytes()
    inject(monkeypatch)

    assert run_worker(folder) == 1
    run = load_run(folder.path)
    assert run.state == RunState.FAILED
    assert "disk is full" in run.message and "earlier epochs and files are kept" in run.message
    assert run.epochs_done == epochs_kept
    assert folder.config_path.read_bytes() == config_before
    assert [p.name for p in folder.path.iterdir() if ".tmp" in p.name] == []
    assert not folder.has_evaluation()
    from cnn_core.models.cnn import load_trained_model

    model = load_trained_model(folder.model_path)
    assert np.asarray(model(np.zeros((1, 28, 28, 1), np.float32))).shape == (1, 10)
    assert {p.name: p.read_bytes() for p in other.path.iterdir()} == other_files
