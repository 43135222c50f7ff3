"""Where a training epoch's time goes: layer by layer, and the worker's extras.

    .venv/bin/python benchmarks/profile_training_epoch.py [--recipe fast_fp32]
        [--dataset fashion_mnist] [--repeats 30]

One process, the recipe's network and training as the worker builds and compiles
them (`build_model`, `compile_for_run`), the dataset's uint8 arrays, the worker's
split (`split_indices`, 10 % held out). Three parts, each timed after a warm-up:

1. Layers: each layer of the model on its own, forward and backward (a compiled
   `tf.function` with a gradient tape, the layer's real input shape at the recipe's
   batch size; no input gradient before the first layer with weights, as in
   training), `--repeats` batches, the fastest (this machine's speed moves by tens
   of percent from minute to minute; the fastest is the least disturbed). Its
   multiply-adds x 2 x 3 (forward, and the two backward products; x 2 x 2 for the
   first layer with weights) give its training FLOPs, and with its time its GFLOP/s.
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

Needs the dataset under ../shared/data (skips otherwise). About 3 minutes on 2 cores
(full Fashion-MNIST, 3 rounds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED_DATA, cpu_peak_gflops, print_machine, print_table

FOLDERS = {"fashion_mnist": "fashion-mnist", "mnist": "mnist"}


def layer_macs(layer, input_shape: tuple, output_shape: tuple) -> int:
    """Multiply-adds of one image through a convolution or dense layer (0 for others)."""
    name = type(layer).__name__
    if name == "Conv2D":
        kh, kw = layer.kernel_size
        return int(output_shape[1] * output_shape[2] * output_shape[3] * kh * kw * input_shape[3])
    if name == "Dense":
        return int(input_shape[-1] * output_shape[-1])
    return 0


def time_layers(model, batch: int, repeats: int) -> list[dict]:
    """Forward + backward time of each layer alone, at `batch` images (median, ms)."""
    import numpy as np
    import tensorflow as tf

    rows = []
    trainable_before = False  # a layer's input gradient is needed only for earlier weights
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        input_grad = trainable_before
        trainable_before = trainable_before or bool(layer.trainable_weights)
        in_shape = (batch, *layer.input.shape[1:])
        out_shape = (batch, *layer.output.shape[1:])
        x = tf.constant(np.random.default_rng(0).random(in_shape, dtype=np.float32))

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
            result = step(x)
            _ = [g.numpy() for g in result[:1]]
            times.append(time.perf_counter() - start)
        macs = layer_macs(layer, in_shape, out_shape)
        rows.append(
            {
                "layer": layer.name,
                "kind": type(layer).__name__,
                "ms": 1000 * min(times),
                # per image: forward, then the weights' gradient and (but for the first
                # layer with weights) the input's
                "train_mflop": (6 if input_grad else 4) * macs / 1e6,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fast_fp32")
    parser.add_argument("--dataset", choices=tuple(FOLDERS), default="fashion_mnist")
    parser.add_argument("--repeats", type=int, default=30, help="batches per layer timing")
    parser.add_argument("--rounds", type=int, default=3, help="epochs of each kind timed")
    args = parser.parse_args()
    if not (SHARED_DATA / FOLDERS[args.dataset]).is_dir():
        print(f"skip: {SHARED_DATA / FOLDERS[args.dataset]} not found")
        return 0
    import os

    os.environ["CNN_DATA_DIR"] = str(SHARED_DATA)
    from cnn_core.base.tf_runtime import import_keras

    import_keras()
    from cnn_core.data.registry import load_dataset, split_indices
    from cnn_core.models.cnn import build_model
    from cnn_core.models.precision import float32_copy, precision_scope
    from cnn_core.schema.config import validation_count
    from cnn_core.schema.recipes import recipe
    from cnn_core.store.folder import RunFolder
    from cnn_core.training.callbacks import make_recorder, training_callbacks
    from cnn_core.training.loop import compile_for_run, fit_data

    print_machine(f"Where a training epoch's time goes: {args.recipe} on {args.dataset}")
    config = recipe(args.recipe, args.dataset, seed=1)
    dataset = load_dataset(args.dataset)
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
    x, y = data["x"], data["y"]
    xv, yv = data["validation_data"]
    print(
        f"{args.recipe}: batch {batch}, {len(train_idx)} training and {len(val_idx)} "
        f"validation images, {batches} steps an epoch, "
        f"{'mixed bfloat16' if config.fit.mixed_precision else 'float32'}"
    )
    model.fit(x[: 10 * batch], y[: 10 * batch], batch_size=batch, epochs=1, verbose=0)
    model.evaluate(xv[:batch], yv[:batch], batch_size=batch, verbose=0)

    # 1. layers
    layers = time_layers(model, batch, args.repeats)

    # 2. the epoch, `--rounds` times, its parts interleaved (medians: this machine's
    # speed moves by tens of percent from minute to minute)
    fit_times, val_times, save_times, worker_times = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="profile-run-") as tmp:
        folder = RunFolder(Path(tmp))
        callbacks = [
            make_recorder(folder, 2 * args.rounds, batches),
            *training_callbacks(config, folder),
        ]
        for _ in range(args.rounds):
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            fit_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.evaluate(xv, yv, batch_size=batch, verbose=0)
            val_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            folder.save_model(float32_copy(model))
            save_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.fit(
                x,
                y,
                batch_size=batch,
                validation_data=(xv, yv),
                epochs=1,
                callbacks=callbacks,
                verbose=2,
            )
            worker_times.append(time.perf_counter() - start)
    fit_s, val_s = statistics.median(fit_times), statistics.median(val_times)
    save_s, worker_s = statistics.median(save_times), statistics.median(worker_times)

    step_ms = 1000 * min(fit_times) / batches  # the layers' times are minima too
    layers_ms = sum(r["ms"] for r in layers)
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
    rest = step_ms - layers_ms
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

    parts = fit_s + val_s + save_s

    def share(seconds: float) -> str:
        return f"{100 * seconds / worker_s:.0f}%"

    print()
    print_table(
        ["part of an epoch (median of rounds)", "s", "of the worker's epoch"],
        [
            ["training steps (fit, no validation, no callbacks)", f"{fit_s:.1f}", share(fit_s)],
            ["validation pass", f"{val_s:.1f}", share(val_s)],
            ["model save", f"{save_s:.2f}", share(save_s)],
            ["callbacks, logging, the rest", f"{worker_s - parts:.1f}", share(worker_s - parts)],
            ["the worker's epoch", f"{worker_s:.1f}", "100%"],
        ],
    )
    print(
        "rounds, s: fit "
        + ", ".join(f"{t:.1f}" for t in fit_times)
        + "; worker "
        + ", ".join(f"{t:.1f}" for t in worker_times)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
