"""Training beyond one device: the tf.distribute strategy a headless run uses.

    default       one device, as in the app (no strategy object)
    mirrored      tf.distribute.MirroredStrategy: every GPU of this machine (without
                  GPUs, every logical CPU device configured before it starts)
    multiworker   tf.distribute.MultiWorkerMirroredStrategy over the machines
                  `$TF_CONFIG` names; the chief (worker 0) writes the run folder
                  (Keras 3.15 needs `cnn_core.training.multiworker_keras`' repairs for it)

The model is built and compiled inside the strategy's scope and the global batch
is the config's batch size (per replica) times the number of replicas.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.training import multiworker_keras

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass(frozen=True)
class Placement:
    """Where a run trains: the strategy's name and object, and its devices."""

    name: str
    strategy: Any  # a tf.distribute.Strategy, or None for the default
    devices: tuple[str, ...]

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    @contextmanager
    def scope(self) -> Iterator[None]:
        """The strategy's scope (nothing for the default): build and compile inside it."""
        with self.strategy.scope() if self.strategy is not None else contextlib.nullcontext():
            yield


def tf_config() -> dict[str, Any]:
    """`$TF_CONFIG` as a dict ({} when unset).

    Raises:
        UserError: set but not a JSON object.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
    except ValueError as error:
        raise UserError(f"TF_CONFIG is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise UserError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return config


def is_chief() -> bool:
    """Whether this process writes the run: worker 0 (or a `chief` task) of `$TF_CONFIG`,
    and every process without one."""
    task = tf_config().get("task") or {}
    kind, index = task.get("type", "worker"), task.get("index", 0)
    return kind == "chief" or (kind == "worker" and index == 0)


def check_strategy(name: str) -> None:
    """Refuse an unknown strategy, or `multiworker` without a usable `$TF_CONFIG`.

    Raises:
        UserError: with what to set.
    """
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "multiworker":
        config = tf_config()
        workers = (config.get("cluster") or {}).get("worker")
        if not isinstance(workers, list) or not workers or not isinstance(config.get("task"), dict):
            raise UserError(
                "the multiworker strategy needs TF_CONFIG, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}} on each machine'
            )


def cluster_devices(local: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Every device of a multi-worker cluster, from this worker's own.

    MultiWorkerMirroredStrategy gives each worker the same devices, so worker
    i's are this worker's with its task index replaced by i.

    Args:
        local: this worker's devices, e.g. '/job:worker/replica:0/task:0/device:CPU:0'.
    """
    config = tf_config()
    task = config.get("task") or {}
    kind, index = task.get("type", "worker"), task.get("index", 0)
    own = f"/job:{kind}/replica:0/task:{index}/"
    devices = []
    for job, hosts in sorted((config.get("cluster") or {}).items()):
        for i in range(len(hosts) if isinstance(hosts, list) else 0):
            devices += [d.replace(own, f"/job:{job}/replica:0/task:{i}/") for d in local]
    return tuple(devices) or tuple(local)


def make_placement(name: str) -> Placement:
    """Create the strategy `name` (before any other TensorFlow work in this process).

    Raises:
        UserError: unknown strategy or missing TF_CONFIG.
    """
    check_strategy(name)
    import_keras()  # TensorFlow's environment first
    import tensorflow as tf  # lazy: importing this module (the worker's CLI) stays TF-free

    if name == "mirrored":  # every GPU; without one, every logical CPU device
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        devices = tuple(strategy.extended.worker_devices)
    elif name == "multiworker":
        multiworker_keras.apply()  # Keras 3.15's Model.fit fails here without it
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        devices = cluster_devices(strategy.extended.worker_devices)
    else:
        strategy = None
        gpus = tf.config.list_logical_devices("GPU")
        devices = (gpus[0].name,) if gpus else (tf.config.list_logical_devices("CPU")[0].name,)
    return Placement(name, strategy, devices)
