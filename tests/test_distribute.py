"""Training beyond one device: the headless worker's --strategy, on CPUs.

Each run is a fresh interpreter: logical devices must be configured before
TensorFlow initialises, which would disturb the other tests in this process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cnn_core.schema.config import FitSpec, TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.runs import RunSummary, list_runs
from tests.conftest import REPO
from tests.test_worker import TINY_CNN

# Split the CPU into `n` logical devices, then run the worker's command line.
WORKER_CODE = """
import sys
from cnn_core.base.tf_runtime import import_keras
import_keras()
import tensorflow as tf
n = int(sys.argv[1])
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
from cnn_core.training.worker import main
sys.exit(main(sys.argv[2:]))
"""


def worker_command(config_file: Path, runs_dir: Path, strategy: str, devices: int) -> list[str]:
    return [
        sys.executable, "-c", WORKER_CODE, str(devices),
        "--config", str(config_file), "--runs-dir", str(runs_dir), "--strategy", strategy,
    ]  # fmt: skip


def config_file(tmp_path: Path) -> Path:
    config = TrainConfig(model=TINY_CNN, fit=FitSpec(epochs=2, batch_size=32), validation=100)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    return path


def only_run(root: Path) -> RunSummary:
    found = list_runs(root)
    assert len(found) == 1, found
    return found[0]


def assert_normal_run_folder(run: RunSummary, replicas: int, strategy: str) -> None:
    assert run.state == RunState.COMPLETED, run.message
    assert run.epochs_done == 2 and run.has_model and run.has_evaluation()
    status = run.status
    assert status.strategy == strategy and status.replicas == replicas
    assert len(status.devices) == replicas and all("CPU" in d for d in status.devices)
    # The batch size is per replica: 500 training images in batches of 32 x replicas.
    assert status.n_train == 500
    assert run.read_progress().batches == -(-500 // (32 * replicas))


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "devices"), [("mirrored", 2), ("default", 1)])
def test_strategy_trains_on_logical_cpus(tmp_path: Path, strategy: str, devices: int) -> None:
    store = tmp_path / "store"
    command = worker_command(config_file(tmp_path), store, strategy, devices)
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert_normal_run_folder(only_run(store), devices, strategy)


def test_multiworker_without_tf_config_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    command = [
        sys.executable,
        "-m",
        "cnn_core.training.worker",
        "--config",
        str(config_file(tmp_path)),
    ]
    command += ["--runs-dir", str(tmp_path / "store"), "--strategy", "multiworker"]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2
    assert "needs TF_CONFIG" in out.stderr
    assert not (tmp_path / "store").exists()


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_localhost_train_one_run(tmp_path: Path) -> None:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    config = config_file(tmp_path)
    procs = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        store = tmp_path / f"store{index}"
        procs.append(
            subprocess.Popen(
                worker_command(config, store, "multiworker", 1),
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
        )  # fmt: skip
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    # Both workers join the cluster and train in step (through cnn_core.training.multiworker_keras'
    # repairs of keras-team/keras#20585); the chief's folder is a normal run.
    chief = only_run(tmp_path / "store0")
    assert chief.state == RunState.COMPLETED, "\n".join(o[-2000:] for o in outputs)
    assert_normal_run_folder(chief, 2, "multiworker")
    assert not (tmp_path / "store1").exists()  # only the chief keeps a run folder


def test_the_multiworker_repairs_find_what_they_replace() -> None:
    """Fails loudly when a Keras upgrade moves the functions the repairs replace."""
    from cnn_core.training import multiworker_keras

    trainer = multiworker_keras._trainer_module()  # a UserError when they moved
    assert callable(trainer.reduce_per_replica)
    assert callable(trainer.TensorFlowTrainer._maybe_symbolic_build)


def test_a_multiworker_run_records_every_worker_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnn_core.training.distribute import cluster_devices

    cluster = {"worker": ["a:1", "b:1", "c:1"]}
    task = {"type": "worker", "index": 1}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    local = [
        "/job:worker/replica:0/task:1/device:GPU:0",
        "/job:worker/replica:0/task:1/device:GPU:1",
    ]
    devices = cluster_devices(local)
    assert len(devices) == 6 and len(set(devices)) == 6
    assert devices[0] == "/job:worker/replica:0/task:0/device:GPU:0"
    assert devices[-1] == "/job:worker/replica:0/task:2/device:GPU:1"
    monkeypatch.delenv("TF_CONFIG")
    assert cluster_devices(local) == tuple(local)  # no cluster: this worker's own


@pytest.mark.slow
def test_a_vgg16_run_trains_both_phases_mirrored_on_two_cpus(tmp_path: Path) -> None:
    """The cached head and block5 phases built and compiled in the strategy's scope."""
    import numpy as np

    from cnn_core.data.registry import load_dataset
    from cnn_core.models.cnn import load_trained_model
    from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD
    from tests.test_feature_cache import vgg_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps(vgg_config().to_dict()))
    store = tmp_path / "store"
    command = worker_command(path, store, "mirrored", 2)
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run = only_run(store)
    assert run.state == RunState.COMPLETED, run.message
    assert [r.phase for r in run.read_history()] == [PHASE_HEAD, PHASE_HEAD, PHASE_FINE_TUNE]
    status = run.status
    assert status.strategy == "mirrored" and status.replicas == 2 and len(status.devices) == 2
    # Batches of 32 per replica: 64 images a step.
    assert run.read_progress().batches == -(-status.n_train // 64)
    # The stored test predictions are the saved model's, on one device.
    x_test = load_dataset("cifar10").x_test.astype(np.float32)
    model = load_trained_model(run.model_path)
    probs, _ = run.read_predictions()
    np.testing.assert_allclose(np.asarray(model(x_test, training=False)), probs, atol=2e-3)
