"""The learning-rate finder: a range test on a fresh copy of the Train form's model.

Leslie Smith's range test as fastai's `lr_find` runs it: train a freshly built
model batch by batch while the learning rate grows exponentially from
START_RATE to END_RATE, smooth the loss with an exponential moving average
(bias-corrected, so its first values are not pulled towards 0), and stop once
the smoothed loss is more than DIVERGENCE_FACTOR times the best seen (or not a
number): past that point the rate only blows the weights up.

The suggestion is the rate of the **steepest descent** of the smoothed loss
(most negative slope against log10(rate)), looked for between the first tenth
of the curve and its minimum. Why not the minimum, or the minimum / 10: the
minimum sits at the edge of instability (and the moving average lags the raw
loss, so the real edge is nearer still); a tenth of it is a robust rule of
thumb but hangs on one point of a noisy curve. The steepest descent is where a
step of training lowers the loss the most, and it was what `lr_find` suggested
by default in fastai until 2.5 ("lr_steep"). When the curve before its minimum
is too short to have a slope, the minimum / 10 is used instead; when the loss
never fell, there is no suggestion (the model does not learn at any rate tried).

Pure functions (`plan_range_test`, `rate_schedule`, `batch_indices`,
`smooth_step`, `smooth_losses`, `diverged`, `suggest_rate`, `estimate_seconds`)
plus the Keras loop `run_range_test`, which the worker process calls
(`python -m cnn_core.training.worker --lr-test <folder>`). Nothing here imports
TensorFlow at module load.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnn_core.base.errors import UserError
from cnn_core.data.registry import load_dataset, split_indices
from cnn_core.models.cnn import build_model, make_loss, make_optimizer
from cnn_core.models.precision import precision_scope
from cnn_core.schema.config import (
    LEARNING_RATE_RANGE,
    FitSpec,
    TrainConfig,
    validate,
    validation_count,
)
from cnn_core.schema.records import Progress, RecordError, RunState, record_version, stamped
from cnn_core.store.atomic import atomic_write_json, read_json
from cnn_core.store.folder import LrTestFolder

START_RATE = LEARNING_RATE_RANGE[0]  # the smallest rate the Train form accepts
END_RATE = 10.0  # well past the largest (1.0), so the divergence is seen
MIN_STEPS = 50  # fewer points than this make too coarse a curve over 7 decades
MAX_STEPS = 300  # "a few hundred batches": one epoch of a large set at most
# The moving average spans 1 / (1 - beta) batches and lags the curve by about as
# many. fastai's beta = 0.98 averages ~50 batches: over its 100-batch test that
# shifts the curve by up to a decade of rate (hence its "minimum / 10" rule). Here
# the span is a 25th of the test (at least 4 batches): a quarter of a decade.
SMOOTHING_SPAN = 25
MIN_SMOOTHING_BATCHES = 4
BETA = 0.98  # fastai's, the default of the functions below
DIVERGENCE_FACTOR = 4.0
MIN_DROP = 0.05  # the smoothed loss must fall by this share for a suggestion
PROGRESS_INTERVAL_S = 0.5

# The cost shown before a test starts. Training FLOPs are ~3x the forward pass
# (forward, and the backward pass's two products). bench_train_throughput.py
# measured the default preset at ~2,400 images/s on 2 CPU cores: 25.5 MFLOPs a
# training image, so ~60 GFLOP/s; each `train_on_batch` call adds a few ms.
TRAIN_FLOPS_PER_S = 60e9
STEP_OVERHEAD_S = 0.005
STARTUP_S = 25.0  # TensorFlow import, data loading and building the model


@dataclass(frozen=True)
class RangePlan:
    """What a range test will do: `steps` batches of `batch_size` from start to end rate."""

    steps: int
    batch_size: int
    start_rate: float = START_RATE
    end_rate: float = END_RATE

    @property
    def beta(self) -> float:
        """The smoothing factor: an average over a 25th of the test's batches (>= 4)."""
        return 1 - 1 / max(MIN_SMOOTHING_BATCHES, self.steps / SMOOTHING_SPAN)


def plan_range_test(n_train: int, batch_size: int) -> RangePlan:
    """One epoch's batches, at least MIN_STEPS and at most MAX_STEPS.

    A small training set gets fewer batches (looping many times over a few
    images measures memorising them), a large one at most MAX_STEPS.

    Args:
        n_train: images in the training split (after the validation split).
        batch_size: the form's batch size; capped at `n_train`.

    Raises:
        ValueError: `n_train` or `batch_size` below 1.
    """
    if n_train < 1 or batch_size < 1:
        raise ValueError(f"need images and a batch size. Received: {n_train=}, {batch_size=}")
    batch = min(batch_size, n_train)
    return RangePlan(min(MAX_STEPS, max(MIN_STEPS, math.ceil(n_train / batch))), batch)


def rate_schedule(plan: RangePlan) -> np.ndarray:
    """float64 (steps,) rates growing geometrically from start_rate to end_rate."""
    return np.geomspace(plan.start_rate, plan.end_rate, plan.steps)


def batch_indices(n: int, plan: RangePlan, seed: int) -> np.ndarray:
    """int64 (steps, batch_size) indices into the training split: seeded shuffled
    passes over it, one after another, cut into full batches."""
    rng = np.random.default_rng(seed)
    passes = math.ceil(plan.steps * plan.batch_size / n)
    order = np.concatenate([rng.permutation(n) for _ in range(passes)])
    return order[: plan.steps * plan.batch_size].reshape(plan.steps, plan.batch_size)


def smooth_step(average: float, loss: float, step: int, beta: float = BETA) -> tuple[float, float]:
    """One step of the bias-corrected moving average.

    Args:
        average: the running average before this step (0.0 at step 0).
        loss: this batch's loss.
        step: 0-based index of this batch.

    Returns:
        (new running average, smoothed loss = average / (1 - beta^(step + 1))).
    """
    average = beta * average + (1 - beta) * loss
    return average, average / (1 - beta ** (step + 1))


def smooth_losses(losses: list[float] | np.ndarray, beta: float = BETA) -> np.ndarray:
    """The bias-corrected moving average of a loss curve, float64 like `losses`."""
    average, out = 0.0, []
    for step, loss in enumerate(np.asarray(losses, dtype=np.float64)):
        average, smoothed = smooth_step(average, float(loss), step, beta)
        out.append(smoothed)
    return np.asarray(out, dtype=np.float64)


def diverged(smoothed: float, best: float, factor: float = DIVERGENCE_FACTOR) -> bool:
    """Whether the range test should stop: the smoothed loss is not finite, or
    above `factor` times the best smoothed loss so far."""
    return not math.isfinite(smoothed) or smoothed > factor * best


def divergence_step(smoothed: np.ndarray, factor: float = DIVERGENCE_FACTOR) -> int | None:
    """The first index where a smoothed curve diverges (see `diverged`); None if never."""
    best = math.inf
    for step, value in enumerate(np.asarray(smoothed, dtype=np.float64)):
        best = min(best, value) if math.isfinite(value) else best
        if diverged(float(value), best, factor):
            return step
    return None


@dataclass(frozen=True)
class Suggestion:
    """The suggested rate, how it was found, and where the smoothed loss was lowest."""

    rate: float  # rounded to 2 significant digits, inside the form's allowed range
    method: str  # "steepest descent" or "minimum / 10"
    minimum_rate: float  # the rate of the smoothed loss' minimum


def round_rate(rate: float) -> float:
    """`rate` to 2 significant digits, clamped to the Train form's allowed range."""
    low, high = LEARNING_RATE_RANGE
    return min(high, max(low, float(f"{rate:.2g}")))


def suggest_rate(rates: np.ndarray, smoothed: np.ndarray) -> Suggestion | None:
    """The steepest descent of the smoothed loss before its minimum (module docstring).

    Args:
        rates: float (n,) increasing rates of the test's batches.
        smoothed: float (n,) smoothed losses; non-finite values (a diverged end)
            are left out.

    Returns:
        The suggestion, or None when the loss never fell by MIN_DROP of its start.
    """
    rates, smoothed = np.asarray(rates, np.float64), np.asarray(smoothed, np.float64)
    keep = np.isfinite(smoothed) & np.isfinite(rates) & (rates > 0)
    rates, smoothed = rates[keep], smoothed[keep]
    if len(smoothed) < 2:
        return None
    lowest = int(np.argmin(smoothed))
    if smoothed[lowest] > (1 - MIN_DROP) * smoothed[0]:
        return None
    minimum_rate = float(rates[lowest])
    skip = len(smoothed) // 10  # the average's first values still follow single batches
    if lowest - skip >= 2:
        slopes = np.gradient(smoothed, np.log10(rates))
        steepest = skip + int(np.argmin(slopes[skip : lowest + 1]))
        return Suggestion(round_rate(rates[steepest]), "steepest descent", minimum_rate)
    return Suggestion(round_rate(minimum_rate / 10), "minimum / 10", minimum_rate)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class LrTestResult:
    """What a finished range test found (stored in the test folder's result file).

    Losses are None where the batch's loss was not a number.
    """

    rates: tuple[float, ...]
    losses: tuple[float | None, ...]
    smoothed: tuple[float | None, ...]
    stop_reason: str  # "diverged", "end of range" or "stopped"
    planned_steps: int
    batch_size: int
    seconds: float
    suggestion: Suggestion | None = None

    def to_dict(self) -> dict[str, Any]:
        record = {
            "rates": list(self.rates),
            "losses": list(self.losses),
            "smoothed": list(self.smoothed),
            "stop_reason": self.stop_reason,
            "planned_steps": self.planned_steps,
            "batch_size": self.batch_size,
            "seconds": self.seconds,
            "suggestion": None if self.suggestion is None else vars(self.suggestion),
        }
        return stamped(record)

    @staticmethod
    def from_dict(record: dict[str, Any], source: str = "the LR test result") -> LrTestResult:
        """Read a stored result.

        Raises:
            RecordError: newer version, missing fields, or curves of different lengths.
        """
        record_version(record, source)
        try:
            suggestion = record.get("suggestion")
            result = LrTestResult(
                rates=tuple(float(r) for r in record["rates"]),
                losses=tuple(None if v is None else float(v) for v in record["losses"]),
                smoothed=tuple(None if v is None else float(v) for v in record["smoothed"]),
                stop_reason=str(record["stop_reason"]),
                planned_steps=int(record["planned_steps"]),
                batch_size=int(record["batch_size"]),
                seconds=float(record["seconds"]),
                suggestion=Suggestion(**suggestion) if suggestion else None,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RecordError(f"{source} is incomplete or malformed ({error!r})") from error
        if not len(result.rates) == len(result.losses) == len(result.smoothed):
            raise RecordError(f"{source}: its curves have different lengths")
        return result


def summarize(
    rates: list[float], losses: list[float], plan: RangePlan, stop_reason: str, seconds: float
) -> LrTestResult:
    """The result record of a test's batches (rates and raw losses, in order)."""
    smoothed = smooth_losses(losses, plan.beta)
    return LrTestResult(
        rates=tuple(float(r) for r in rates),
        losses=tuple(_finite(v) for v in losses),
        smoothed=tuple(_finite(v) for v in smoothed),
        stop_reason=stop_reason,
        planned_steps=plan.steps,
        batch_size=plan.batch_size,
        seconds=seconds,
        suggestion=suggest_rate(np.asarray(rates), smoothed),
    )


def read_result(folder: LrTestFolder) -> LrTestResult | None:
    """The stored result; None before the test finished or when the file is unusable."""
    record = read_json(folder.result_path)
    try:
        return LrTestResult.from_dict(record, folder.result_path.name) if record else None
    except RecordError:
        return None


# What the test depends on ------------------------------------------------------


def range_test_config(config: TrainConfig) -> TrainConfig:
    """`config` without the settings the range test ignores: the rate (it sweeps it),
    its schedule, the epochs and early stopping, the name and group. Two configs with
    the same tested config give the same test. Label smoothing and mixed precision
    stay: the test trains with the run's loss and arithmetic."""
    fit = config.fit
    return replace(
        config,
        optimizer=replace(config.optimizer, learning_rate=START_RATE, schedule="constant"),
        fit=FitSpec(
            batch_size=fit.batch_size,
            label_smoothing=fit.label_smoothing,
            mixed_precision=fit.mixed_precision,
        ),
        name="",
        group="",
    )


def unsupported_reason(config: TrainConfig) -> str:
    """Why the finder cannot test this model, or '' when it can."""
    if config.model.kind == "vgg16":
        return (
            "The learning-rate finder tests the configurable CNN and softmax models. "
            "A VGG16 run trains its head on cached base features and then fine-tunes "
            "block5 at its own rate: a range test through the whole network would cost "
            "many minutes on a CPU and would test neither phase as it trains. Start "
            "from its defaults (1e-3 for the head, 1e-5 for fine-tuning)."
        )
    return ""


def layer_flops(row: Any) -> float:
    """Forward FLOPs (2 x multiply-adds) per image of one `describe_model` row: its
    convolution's or dense layer's; 0 for layers without weights to multiply."""
    if row.kind == "Conv2D":  # each output position: (params - biases) multiply-adds
        height, width, filters = row.output_shape
        return 2.0 * height * width * (row.params - filters)
    if row.kind.startswith("Dense"):
        return 2.0 * (row.params - row.output_shape[0])
    return 0.0


def forward_flops(rows: list[Any]) -> float:
    """Forward FLOPs (2 x multiply-adds) per image of a `describe_model` layer plan."""
    return sum(layer_flops(row) for row in rows)


def estimate_seconds(rows: list[Any], plan: RangePlan) -> float:
    """Rough seconds for the test's batches (all of them: divergence may end it sooner),
    without the worker's start-up (STARTUP_S)."""
    per_batch = STEP_OVERHEAD_S + plan.batch_size * 3 * forward_flops(rows) / TRAIN_FLOPS_PER_S
    return plan.steps * per_batch


# The Keras loop (in the worker process) ----------------------------------------


def run_range_test(folder: LrTestFolder) -> RunState:
    """Run the range test of the config in `folder`; store its result; the final state.

    Raises:
        UserError: a config the validator refuses, a VGG16 model, or a missing
            dataset (the worker records the message).
    """
    config = folder.read_config()
    if why := unsupported_reason(config):
        raise UserError(why)
    dataset = load_dataset(config.dataset, download=True)
    info = dataset.info
    validate(config, info.image_shape, len(dataset.y_train))
    n_val = validation_count(config, len(dataset.y_train))
    train_idx, _ = split_indices(dataset.y_train, n_val, config.seed, config.train_subset)
    plan = plan_range_test(len(train_idx), config.fit.batch_size)
    with precision_scope(config.fit.mixed_precision):  # the run's arithmetic and loss
        model = build_model(
            config.model, info.image_shape, len(info.class_names), config.seed, config.augment
        )
    model.compile(
        optimizer=make_optimizer(replace(config.optimizer, learning_rate=plan.start_rate)),
        loss=make_loss(config.fit.label_smoothing, len(info.class_names)),
    )
    batches = train_idx[batch_indices(len(train_idx), plan, config.seed)]
    rates, losses, stop_reason = [], [], "end of range"
    average, best, started, last_write = 0.0, math.inf, time.perf_counter(), 0.0
    for step, (rate, batch) in enumerate(zip(rate_schedule(plan), batches, strict=True)):
        if folder.stop_requested():
            stop_reason = "stopped"
            break
        model.optimizer.learning_rate = float(rate)
        x, y = dataset.x_train[batch], dataset.y_train[batch]
        loss = float(np.asarray(model.train_on_batch(x, y)))
        rates.append(float(rate))
        losses.append(loss)
        average, smoothed = smooth_step(average, loss, step, plan.beta)
        best = min(best, smoothed) if math.isfinite(smoothed) else best
        if diverged(smoothed, best):
            stop_reason = "diverged"
            break
        now = time.perf_counter()
        if now - last_write >= PROGRESS_INTERVAL_S:
            last_write = now
            _write_progress(folder, step + 1, plan.steps, now - started, smoothed)
    seconds = time.perf_counter() - started
    atomic_write_json(
        folder.result_path, summarize(rates, losses, plan, stop_reason, seconds).to_dict()
    )
    folder.clear_progress()
    state = RunState.STOPPED if stop_reason == "stopped" else RunState.COMPLETED
    folder.write_status(state, ended=time.time(), train_seconds=seconds, message=stop_reason)
    return state


def _write_progress(
    folder: LrTestFolder, done: int, steps: int, elapsed: float, smoothed: float
) -> None:
    eta = elapsed * (steps - done) / done if done else None
    progress = Progress(1, 1, done, steps, elapsed, eta, _finite(smoothed))
    folder.write_progress(progress)
    folder.write_status(RunState.RUNNING, heartbeat=time.time())
