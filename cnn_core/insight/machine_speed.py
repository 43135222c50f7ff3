"""Seconds per training epoch on this machine, before a run starts.

A FLOP model scaled by what this machine measured:

- The model is `cnn_core.training.lr_finder`'s: ~3 forward passes of FLOPs per
  training image (forward, and the backward pass's two products) at
  `TRAIN_FLOPS_PER_S` (60 GFLOP/s, from `bench_train_throughput.py`'s ~2,400
  images/s for the default network on the project's 2-core machine), a few ms
  per batch, and one forward pass per validation image. It agrees with
  `bench_accuracy.py` (benchmarks/README.md, 2026-11-23): 10 epochs of the
  default recipe on full Fashion-MNIST (54,000 + 6,000 images) model as 280 s;
  measured 292 s.
- This machine's speed is the median ratio of measured to modelled epoch seconds
  over the newest finished CNN runs in the run store (epoch 1 left out: it also
  traces the graph). The starter run and imported runs were trained on other
  machines, so they never count. With no such run the factor is 1 (the
  benchmark machine's speed).
- Mixed precision (`FitSpec.mixed_precision`) on a CPU with bfloat16 instructions
  divides the FLOP time by `MIXED_PRECISION_SPEEDUP`, measured through the worker on
  the project's machine (AMX), full Fashion-MNIST, the default network at batch 256:
  17.1 s per epoch in float32 (10 epochs, 171 s) against 6.4 s in bfloat16 (24
  epochs, 154 s), 2.7x; plain `model.fit` in one process gave 1.7x on 3 epochs.
  Elsewhere bfloat16 is emulated; no figure exists, so the model assumes float32's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from cnn_core.base.cpu import has_bfloat16
from cnn_core.data.registry import DatasetInfo
from cnn_core.models.plan import describe_model
from cnn_core.schema.config import TrainConfig, validation_size
from cnn_core.schema.records import whole_epochs
from cnn_core.store.runs import RunSummary, files_signature
from cnn_core.store.signed_cache import SignedCache
from cnn_core.training.lr_finder import STEP_OVERHEAD_S, TRAIN_FLOPS_PER_S, forward_flops

MIXED_PRECISION_SPEEDUP = 2.6  # see the module's note
RECENT_RUNS = 10  # the newest runs that calibrate the speed (older ones may predate a change)


@dataclass(frozen=True)
class MachineSpeed:
    """How fast this machine trains, relative to the FLOP model."""

    factor: float  # measured / modelled epoch seconds: 2.0 = half the benchmark's speed
    runs: int  # the runs that measured it (0: no run here yet, the benchmark's figure)

    def basis(self) -> str:
        """Where the speed comes from, for a caption."""
        if not self.runs:
            return "speed of the benchmark machine: no finished CNN run here yet"
        plural = "run" if self.runs == 1 else f"{self.runs} runs"
        return f"speed measured from your last {plural} on this machine"


BENCHMARK_SPEED = MachineSpeed(factor=1.0, runs=0)


def split_counts(config: TrainConfig, n_images: int) -> tuple[int, int]:
    """(training, validation) images of an epoch, from the dataset's labelled `n_images`."""
    total = config.train_subset or n_images
    n_val = validation_size(config.validation, total)
    return total - n_val, n_val


def modelled_epoch_seconds(
    config: TrainConfig, info: DatasetInfo, n_train: int, n_val: int
) -> float:
    """Seconds of one epoch (training and validation) on the benchmark machine, per the model."""
    rows = describe_model(config.model, info.image_shape, len(info.class_names), config.augment)
    rate = TRAIN_FLOPS_PER_S
    if config.fit.mixed_precision and has_bfloat16():
        rate *= MIXED_PRECISION_SPEEDUP
    forward = forward_flops(rows)
    steps = math.ceil(n_train / config.fit.batch_size)
    training = n_train * 3 * forward / rate + steps * STEP_OVERHEAD_S
    return training + n_val * forward / rate


# Each run's ratio, read from its epoch log once per version of its files: the Train
# page asks for this machine's speed on every render, over the newest runs.
_ratios: SignedCache[tuple[float | None]] = SignedCache(512)


def run_speed_ratio(run: RunSummary) -> float | None:
    """Measured / modelled epoch seconds of one finished run of this machine, or None."""
    signature = (run.state, files_signature(run))
    cached = _ratios.get(run.path, signature)
    if cached is None:
        cached = (_measured_ratio(run),)
        _ratios.put(run.path, signature, cached)
    return cached[0]


def _measured_ratio(run: RunSummary) -> float | None:
    config, status, info = run.config, run.status, run.dataset
    if run.starter or run.notes.imported_from or run.active:
        return None  # trained elsewhere, or its epochs are still coming
    if config is None or status is None or info is None or config.model.kind != "cnn":
        return None
    if not status.n_train or status.n_val is None:
        return None
    timed = [r.seconds for r in whole_epochs(run.read_history())[1:] if r.seconds]
    if not timed:
        return None
    modelled = modelled_epoch_seconds(config, info, status.n_train, status.n_val)
    return statistics.median(timed) / modelled if modelled > 0 else None


def machine_speed(runs: Sequence[RunSummary]) -> MachineSpeed:
    """This machine's speed from the newest runs in `runs` (newest first, as `list_runs`)."""
    ratios: list[float] = []
    for run in runs:
        if (ratio := run_speed_ratio(run)) is not None:
            ratios.append(ratio)
            if len(ratios) == RECENT_RUNS:
                break
    if not ratios:
        return BENCHMARK_SPEED
    return MachineSpeed(factor=statistics.median(ratios), runs=len(ratios))


def epoch_seconds(
    config: TrainConfig, info: DatasetInfo, n_images: int, speed: MachineSpeed
) -> float:
    """Expected seconds of one epoch of `config` on this machine (`n_images` labelled images)."""
    n_train, n_val = split_counts(config, n_images)
    return modelled_epoch_seconds(config, info, n_train, n_val) * speed.factor
