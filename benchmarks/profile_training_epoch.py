"""Where a training epoch's time goes: layer by layer, and the worker's extras.

    .venv/bin/python benchmarks/profile_training_epoch.py [--recipe fast_fp32]
        [--dataset fashion_mnist|mnist] [--repeats 30] [--rounds 3]

One process, the recipe's network and training as the worker builds and compiles
them (`build_model`, `compile_for_run`), the dataset's uint8 arrays, the worker's
split (`split_indices`, 10 % held out). Three parts, each timed after a warm-up:

1. Layers: each layer of the model on its own, forward and backward (a compiled
   `tf.function` with a gradient tape, the layer's real input shape at the recipe's
   batch size; no input gradient before the first layer with weights, as in
   training), `--repeats` batches, the fastest (this machine's speed moves by tens
   of percent from minute to minute; the fastest is the least disturbed). Its
   forward FLOPs (`lr_finder.layer_flops` of its `describe_model` row) x 3 (forward,
   and the two backward products; x 2 for the first layer with weights) give its
   training FLOPs, and with its time its GFLOP/s.
   The rest of a training step (the loss, the optimizer's update of every weight,
   Keras' step bookkeeping) is the fastest whole step less the layers' sum.
2. The epoch: one `model.fit` epoch with no validation and no callbacks; the
   validation pass (`model.evaluate` on the held-out images); the model save the
   worker does after every epoch; then one epoch as the worker fits it (validation,
   the recorder with its save and progress writes, TensorBoard, `verbose=2`).
   What the worker's epoch takes beyond the first three is its callbacks' and
   logging's cost. `--rounds` of each, interleaved, medians quoted.
3. The CPU's nominal float32 peak (`common.cpu_peak_gflops`, from the flags in
   /proc/cpuinfo and the clock), to put each GFLOP/s against.

Needs the dataset offline, e.g. under ../shared/data (skips otherwise). About 3 minutes on 2 cores
(full Fashion-MNIST, 3 rounds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SHARED_DATA, cpu_peak_gflops, print_machine, print_table


def time_layers(model: Any, flops: dict[str, float], batch: int, repeats: int) -> list[dict]:
    """Forward + backward time of each layer alone at `batch` images (the fastest of
    `repeats`, ms), with its training MFLOP per image from `flops` (forward, by name)."""
    import numpy as np
    import tensorflow as tf

    rows = []
    trainable_before = False  # a layer's input gradient is needed only for earlier weights
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        input_grad = trainable_before
        trainable_before = trainable_before or bool(layer.trainable_weights)
        shape = (batch, *layer.input.shape[1:])
        x = tf.constant(np.random.default_rng(0).random(shape, dtype=np.float32))

        @tf.function
        def step(inputs, layer=layer, input_grad=input_grad):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                out = layer(inputs, training=True)
                total = tf.reduce_sum(tf.cast(out, tf.float32))
            sources = [inputs] if input_grad else []
            grads = tape.gradient(total, [*sources, *layer.trainable_weights])
            return [g for g in grads if g is not None] or [out]

        for _ in range(3):
            step(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            _ = step(x)[0].numpy()
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "layer": layer.name,
                "kind": type(layer).__name__,
                "ms": 1000 * min(times),
                # forward, the weights' gradient and (but for the first layer with
                # weights) the input's: each costs the forward's multiply-adds
                "train_mflop": (3 if input_grad else 2) * flops.get(layer.name, 0.0) / 1e6,
            }
        )
    return rows


def time_epochs(model: Any, config: Any, data: dict, batches: int, rounds: int) -> dict:
    """Seconds of each part of an epoch, `rounds` times interleaved: a plain fit epoch,
    the validation pass, the model save, and an epoch as the worker fits it."""
    from cnn_core.models.precision import float32_copy
    from cnn_core.store.folder import RunFolder
    from cnn_core.training.callbacks import make_recorder, training_callbacks

    x, y, batch = data["x"], data["y"], data["batch_size"]
    xv, yv = data["validation_data"]
    times: dict[str, list[float]] = {"fit": [], "validation": [], "save": [], "worker": []}

    def timed(part: str, work: Any) -> None:
        start = time.perf_counter()
        work()
        times[part].append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="profile-run-") as tmp:
        folder = RunFolder(Path(tmp))
        callbacks = [
            make_recorder(folder, 2 * rounds, batches),
            *training_callbacks(config, folder),
        ]
        for _ in range(rounds):
            timed("fit", lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0))
            timed("validation", lambda: model.evaluate(xv, yv, batch_size=batch, verbose=0))
            timed("save", lambda: folder.save_model(float32_copy(model)))
            timed(
                "worker",
                lambda: model.fit(
                    x,
                    y,
                    batch_size=batch,
                    validation_data=(xv, yv),
                    epochs=1,
                    callbacks=callbacks,
                    verbose=2,
                ),
            )
    return times


def print_layers(layers: list[dict], step_ms: float, batch: int) -> None:
    peak = cpu_peak_gflops()
    rows = []
    for r in layers:
        gflops = r["train_mflop"] * batch / r["ms"] if r["train_mflop"] else None
        rows.append(
            [
                r["layer"],
                r["kind"],
                f"{r['ms']:.1f}",
                f"{100 * r['ms'] / step_ms:.0f}%",
                f"{r['train_mflop']:.2f}" if r["train_mflop"] else "-",
                f"{gflops:.0f}" if gflops else "-",
                f"{100 * gflops / peak:.0f}%" if gflops and peak else "-",
            ]
        )
    rest = step_ms - sum(r["ms"] for r in layers)
    rows.append(
        ["(the rest)", "loss, optimizer, step", f"{rest:.1f}", f"{100 * rest / step_ms:.0f}%"]
        + [""] * 3
    )
    rows.append(["one training step", "", f"{step_ms:.1f}", "100%"] + [""] * 3)
    print()
    print_table(["layer", "kind", "ms/batch", "of step", "MFLOP/img", "GFLOP/s", "of peak"], rows)
    total_mflop = sum(r["train_mflop"] for r in layers)
    rate = total_mflop * batch / step_ms
    print(
        f"whole step: {total_mflop:.1f} training MFLOP per image x {batch} / {step_ms:.1f} ms = "
        f"{rate:.0f} GFLOP/s"
        + (f" ({100 * rate / peak:.0f}% of {peak:.0f} nominal)" if peak else "")
    )
    print(
        "(a layer's time alone, fed from memory, is not its exact share inside a step: "
        "the rest's line takes the difference, whatever its sign)"
    )


def print_epoch(times: dict[str, list[float]]) -> None:
    fit, val, save, worker = (
        statistics.median(times[part]) for part in ("fit", "validation", "save", "worker")
    )
    rest = worker - (fit + val + save)

    def share(seconds: float) -> str:
        return f"{100 * seconds / worker:.0f}%"

    print()
    print_table(
        ["part of an epoch (median of rounds)", "s", "of the worker's epoch"],
        [
            ["training steps (fit, no validation, no callbacks)", f"{fit:.1f}", share(fit)],
            ["validation pass", f"{val:.1f}", share(val)],
            ["model save", f"{save:.2f}", share(save)],
            ["callbacks, logging, the rest", f"{rest:.1f}", share(rest)],
            ["the worker's epoch", f"{worker:.1f}", "100%"],
        ],
    )
    print(
        "rounds, s: fit "
        + ", ".join(f"{t:.1f}" for t in times["fit"])
        + "; worker "
        + ", ".join(f"{t:.1f}" for t in times["worker"])
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fast_fp32")
    parser.add_argument("--dataset", choices=("fashion_mnist", "mnist"), default="fashion_mnist")
    parser.add_argument("--repeats", type=int, default=30, help="batches per layer timing")
    parser.add_argument("--rounds", type=int, default=3, help="epochs of each kind timed")
    args = parser.parse_args()
    os.environ.setdefault("CNN_DATA_DIR", str(SHARED_DATA))
    from cnn_core.base.errors import UserError
    from cnn_core.data.registry import load_dataset, split_indices
    from cnn_core.models.cnn import build_model
    from cnn_core.models.plan import describe_model
    from cnn_core.models.precision import precision_scope
    from cnn_core.schema.config import validation_count
    from cnn_core.schema.recipes import recipe
    from cnn_core.training.loop import compile_for_run, fit_data
    from cnn_core.training.lr_finder import layer_flops

    try:
        dataset = load_dataset(args.dataset)
    except UserError as error:
        print(f"skip: {error}")
        return 0
    print_machine(f"Where a training epoch's time goes: {args.recipe} on {args.dataset}")
    config = recipe(args.recipe, args.dataset, seed=1)
    info = dataset.info
    n_val = validation_count(config, len(dataset.y_train))
    train_idx, val_idx = split_indices(dataset.y_train, n_val, config.seed, config.train_subset)
    batch = config.fit.batch_size
    batches = -(-len(train_idx) // batch)
    with precision_scope(config.fit.mixed_precision):
        model = build_model(
            config.model, info.image_shape, len(info.class_names), config.seed, config.augment
        )
    compile_for_run(model, config, batches)
    data = fit_data(dataset, train_idx, val_idx, batch, config.seed)
    print(
        f"{args.recipe}: batch {batch}, {len(train_idx)} training and {len(val_idx)} "
        f"validation images, {batches} steps an epoch, "
        f"{'mixed bfloat16' if config.fit.mixed_precision else 'float32'}"
    )
    x, y = data["x"], data["y"]
    xv, yv = data["validation_data"]
    model.fit(x[: 10 * batch], y[: 10 * batch], batch_size=batch, epochs=1, verbose=0)  # warm-up
    model.evaluate(xv[:batch], yv[:batch], batch_size=batch, verbose=0)

    plan = describe_model(config.model, info.image_shape, len(info.class_names), config.augment)
    layers = time_layers(model, {row.name: layer_flops(row) for row in plan}, batch, args.repeats)
    times = time_epochs(model, config, data, batches, args.rounds)
    print_layers(layers, 1000 * min(times["fit"]) / batches, batch)  # minima, as the layers'
    print_epoch(times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
