"""Fitting the machine: the memory a training needs against what the process may use.

A worker that asks for more memory than its container allows is killed by the
kernel half way, leaving an *interrupted* run and no message. The worker calls
`check_training_memory` before it imports TensorFlow, and refuses a run that
would not fit with a message that says what to change.

What is available, in order:
1. `$CNN_MEMORY_LIMIT_MB`: the memory one training worker may use; this
   process's resident memory counts against it;
2. the cgroup limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) minus the
   cgroup's working set (usage less reclaimable page cache): on Streamlit
   Community Cloud and in containers this counts the server and every worker;
3. otherwise the machine's `MemAvailable`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cnn_core.base import settings
from cnn_core.base.errors import UserError
from cnn_core.data.registry import DatasetInfo
from cnn_core.models.plan import BYTES_PER_FLOAT, describe_model, estimate_batch_memory
from cnn_core.schema.config import TrainConfig

MB = 1024 * 1024
# Resident memory of a worker once TensorFlow and Keras are loaded and a small model
# trains: 752 MB peak on a 5,000-image MNIST sample (benchmarks/bench_memory.py).
RUNTIME_BYTES = 700 * MB
CGROUP = Path("/sys/fs/cgroup")
NO_LIMIT = 1 << 60  # cgroup v1 reports "no limit" as a huge number


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training is expected to need at its peak, by part."""

    runtime: int  # TensorFlow, Keras and the Python process
    dataset: int  # the loaded uint8 arrays and the training split's copy
    model: int  # weights, gradients, optimizer state and one batch's activations per replica
    evaluation: int  # test-set probabilities

    @property
    def total(self) -> int:
        return self.runtime + self.dataset + self.model + self.evaluation

    def text(self) -> str:
        return (
            f"about {self.total / MB:,.0f} MB (TensorFlow {self.runtime / MB:,.0f} MB, "
            f"dataset {self.dataset / MB:,.0f} MB, model and batches {self.model / MB:,.0f} MB)"
        )


@dataclass(frozen=True)
class MemoryAvailable:
    """What the process may still use, and where that figure comes from."""

    free: int  # bytes
    limit: int | None  # bytes; None when only the machine's available memory is known
    used: int  # bytes counted against the limit
    source: str

    def text(self) -> str:
        if self.limit is None:
            return f"{self.free / MB:,.0f} MB are available ({self.source})"
        return (
            f"{self.free / MB:,.0f} MB are free ({self.source}: "
            f"{self.limit / MB:,.0f} MB, {self.used / MB:,.0f} MB in use)"
        )


def estimate_training_memory(
    config: TrainConfig, info: DatasetInfo, replicas: int = 1
) -> MemoryEstimate:
    """The peak memory of training `config` on `info`'s dataset.

    Args:
        config: a validated config.
        info: the dataset's registry entry (its full split sizes: a conservative figure).
        replicas: model replicas in this process (a MirroredStrategy over its devices).
    """
    pixels = info.image_shape[0] * info.image_shape[1] * info.image_shape[2]
    n_train = config.train_subset or info.n_train
    # uint8 arrays as loaded, plus the training and validation splits' fancy-indexed copy.
    dataset = (info.n_train + info.n_test + n_train) * pixels + (info.n_train + info.n_test) * 8
    rows = describe_model(config.model, info.image_shape, len(info.class_names))
    per_replica = estimate_batch_memory(rows, config.fit.batch_size, config.optimizer.name)
    evaluation = 2 * info.n_test * len(info.class_names) * BYTES_PER_FLOAT
    return MemoryEstimate(RUNTIME_BYTES, dataset, per_replica * max(1, replicas), evaluation)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _inactive_file(stat_path: Path, key: str) -> int:
    try:
        for line in stat_path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def cgroup_memory(root: Path = CGROUP) -> tuple[int, int, str] | None:
    """(limit, working set, version) of this process's cgroup; None without a limit.

    The working set is the usage less inactive file cache, which the kernel
    reclaims before it kills anything.
    """
    limit = _read_int(root / "memory.max")
    if limit is not None:  # v2 ("max" means none, and reads as None)
        usage = _read_int(root / "memory.current") or 0
        return limit, usage - _inactive_file(root / "memory.stat", "inactive_file"), "cgroup v2"
    v1 = root / "memory"
    limit = _read_int(v1 / "memory.limit_in_bytes")
    if limit is not None and limit < NO_LIMIT:
        usage = _read_int(v1 / "memory.usage_in_bytes") or 0
        return (
            limit,
            usage - _inactive_file(v1 / "memory.stat", "total_inactive_file"),
            ("cgroup v1"),
        )
    return None


def _proc_kb(path: str, key: str) -> int | None:
    """A `key:  <n> kB` line of a /proc file, in bytes; None where it is missing."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_rss() -> int:
    """This process's resident memory in bytes (0 where /proc is missing)."""
    return _proc_kb("/proc/self/status", "VmRSS") or 0


def machine_available() -> int | None:
    """`MemAvailable` from /proc/meminfo in bytes; None where it is unknown."""
    return _proc_kb("/proc/meminfo", "MemAvailable")


def available_memory(root: Path = CGROUP) -> MemoryAvailable | None:
    """What this process may still use (see the module docstring); None when unknown.

    Raises:
        UserError: `$CNN_MEMORY_LIMIT_MB` is not a positive number.
    """
    setting = settings.memory_limit_text()
    if setting:
        try:
            limit = int(float(setting) * MB)
        except ValueError:
            limit = 0
        if limit <= 0:
            raise UserError(f"CNN_MEMORY_LIMIT_MB must be a positive number of MB: {setting!r}")
        used = process_rss()
        return MemoryAvailable(max(0, limit - used), limit, used, "$CNN_MEMORY_LIMIT_MB")
    found = cgroup_memory(root)
    if found is not None:
        limit, used, version = found
        return MemoryAvailable(max(0, limit - used), limit, used, f"the {version} limit")
    free = machine_available()
    return None if free is None else MemoryAvailable(free, None, 0, "the machine's MemAvailable")


def check_training_memory(
    config: TrainConfig, info: DatasetInfo, replicas: int = 1, root: Path = CGROUP
) -> MemoryEstimate:
    """Refuse a training that would not fit in the memory left to this process.

    Returns:
        The estimate, when it fits (or when nothing is known about the memory).

    Raises:
        UserError: it would not fit, saying how much it needs, how much is free,
            and what to change.
    """
    estimate = estimate_training_memory(config, info, replicas)
    available = available_memory(root)
    if available is not None and estimate.total > available.free:
        raise UserError(
            f"not enough memory to train this run: it needs {estimate.text()}, and "
            f"{available.text()}. Lower the batch size, train on a subset, use a smaller "
            "model, or wait for other trainings to end."
        )
    return estimate


def largest_admitted_subset(
    config: TrainConfig, info: DatasetInfo, free_bytes: int, replicas: int = 1
) -> int:
    """The most training images `config` may use within `free_bytes` (0: none fits).

    A binary search over `train_subset` with the same estimate as the guard.
    """

    def fits(n: int) -> bool:
        sized = replace(config, train_subset=n)
        return estimate_training_memory(sized, info, replicas).total <= free_bytes

    low, high = 0, info.n_train
    if fits(high):
        return high
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low
