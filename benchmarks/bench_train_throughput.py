"""Training throughput: the worker's way vs a plain `model.fit` with default TensorFlow.

    .venv/bin/python benchmarks/bench_train_throughput.py [--quick] [--pairs N]

A (worker): Keras imported through `cnn_core.base.tf_runtime.import_keras()` (which
sets TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow loads), the default preset built
by `cnn_core.models.cnn.build_model`, compiled by `cnn_core.training.loop.compile_for_run`
with the app's defaults (Adam 1e-3, cosine decay), fitted on the dataset's
uint8 arrays (as the worker does) with the worker's callbacks (`callbacks.make_recorder`
writing into a temp run folder, `training_callbacks`: TensorBoard; no early
stopping, which has no validation data to watch here) and `verbose=2` as the
worker logs.

B (plain): what a user's own notebook gets: TF_ENABLE_ONEDNN_OPTS removed from
the environment, the same layers written out with plain Keras, float32 pixels,
Adam 1e-3, `model.fit` with no callbacks (and `verbose=0`, so no progress-bar
cost counts against B).

Both: the MNIST 5,000-image sample (`cnn_core.data.registry.load_dataset("mnist")` with
CNN_DATA_DIR=../shared/data; random uint8 arrays of the same shape when absent),
pixels in [0, 255] (the models rescale inside), batch size 64, 1 warm-up epoch,
then 2 timed epochs. Every measurement runs in its own fresh subprocess (oneDNN
is chosen when TensorFlow loads); pairs run interleaved, A B A B ..., so
machine noise hits both sides alike. Target: A/B >= 1.3x.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

from common import (
    PYTHON,
    SHARED_DATA,
    bench_env,
    load_average,
    median,
    print_machine,
    print_table,
    verdict,
)

TARGET = 1.3
BATCH = 64
TIMED_EPOCHS = 2
N_IMAGES = 5000
SEED = 42
RESULT_TAG = "RESULT "


# ----------------------------------------------------------------------------- children


def _data():
    """(x float32 (n, 28, 28, 1) in [0, 255], y int64 (n,), source)."""
    import numpy as np

    from cnn_core.base.errors import UserError
    from cnn_core.data.registry import load_dataset

    try:
        dataset = load_dataset("mnist")
        x, y, source = dataset.x_train[:N_IMAGES], dataset.y_train[:N_IMAGES], dataset.source
    except UserError as error:
        rng = np.random.default_rng(SEED)
        x = rng.integers(0, 256, (N_IMAGES, 28, 28, 1), dtype=np.uint8)
        y = rng.integers(0, 10, N_IMAGES).astype(np.int64)
        source = f"random uint8 arrays (no MNIST: {str(error)[:60]}...)"
    return x.astype(np.float32), y, source


def _onednn_enabled() -> bool | None:
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - a private API; report unknown
        return None


def child_worker_way() -> dict:
    """Side A, in a fresh process: the project's import, model, compile and callbacks."""
    from cnn_core.base.tf_runtime import import_keras

    import_keras()
    from cnn_core.models.cnn import build_model
    from cnn_core.schema.config import FitSpec, TrainConfig
    from cnn_core.store.folder import RunFolder
    from cnn_core.training.callbacks import make_recorder, training_callbacks
    from cnn_core.training.loop import compile_for_run

    x, y, source = _data()
    x = x.astype("uint8")  # the worker feeds the dataset's uint8 arrays; the model casts
    # The app's defaults (default preset, Adam, cosine decay), without early
    # stopping: this fit has no validation data for it to watch.
    config = TrainConfig(
        fit=FitSpec(batch_size=BATCH, epochs=1 + TIMED_EPOCHS, early_stopping=False)
    )
    model = build_model(config.model, (28, 28, 1), 10, SEED)
    batches = math.ceil(len(y) / BATCH)
    compile_for_run(model, config, batches)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        from pathlib import Path

        run = RunFolder(Path(tmp))
        callbacks = [
            make_recorder(run, config.fit.epochs, batches),
            *training_callbacks(config, run),
        ]
        model.fit(x, y, batch_size=BATCH, epochs=1, callbacks=callbacks, verbose=2)
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=BATCH, epochs=TIMED_EPOCHS, callbacks=callbacks, verbose=2)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return _result(model, x, seconds, cpu, source)


def child_plain() -> dict:
    """Side B, in a fresh process without TF_ENABLE_ONEDNN_OPTS: a notebook's model.fit."""
    import keras  # plain import: TensorFlow's own defaults

    from cnn_core.models.cnn import BN_MOMENTUM  # a constant: importing it loads no TensorFlow
    from cnn_core.schema.config import DEFAULT_PRESET, PRESETS

    spec = PRESETS[DEFAULT_PRESET]
    x, y, source = _data()
    keras.utils.set_random_seed(SEED)
    layers = [keras.Input(shape=(28, 28, 1)), keras.layers.Rescaling(1.0 / 255)]
    for block in spec.conv_blocks:  # the same layers as build_model, written out plainly
        layers.append(
            keras.layers.Conv2D(
                block.filters,
                block.kernel_size,
                padding=block.padding,
                activation=block.activation,
            )
        )
        if block.batch_norm:
            layers.append(keras.layers.BatchNormalization(momentum=BN_MOMENTUM))
        if block.pool:
            layers.append(keras.layers.MaxPooling2D(2))
    layers.append(keras.layers.Flatten())
    for dense in spec.dense_layers:
        layers.append(keras.layers.Dense(dense.units, activation="relu"))
        if dense.dropout > 0:
            layers.append(keras.layers.Dropout(dense.dropout))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(x, y, batch_size=BATCH, epochs=TIMED_EPOCHS, verbose=0)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return _result(model, x, seconds, cpu, source)


def _result(model, x, seconds: float, cpu: float, source: str) -> dict:
    return {
        "images_per_s": TIMED_EPOCHS * len(x) / seconds,
        "images_per_cpu_s": TIMED_EPOCHS * len(x) / cpu,
        "seconds": seconds,
        "params": int(model.count_params()),
        "layers": [type(layer).__name__ for layer in model.layers],
        "onednn": _onednn_enabled(),
        "env_onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "source": source,
    }


# ----------------------------------------------------------------------------- parent


def run_side(side: str) -> dict:
    """One measurement in a fresh subprocess; its result record."""
    extra = {}
    if SHARED_DATA.is_dir():
        extra["CNN_DATA_DIR"] = str(SHARED_DATA)
    env = bench_env(**extra)
    # B gets TensorFlow's default; A gets whatever import_keras sets, as in the worker.
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    proc = subprocess.run(
        [PYTHON, __file__, "--child", side],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    raise RuntimeError(
        f"side {side} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
        f"{proc.stderr[-3000:]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pair instead of four")
    parser.add_argument("--pairs", type=int, help="how many A/B pairs (default 4)")
    parser.add_argument("--child", choices=("A", "B"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child_worker_way() if args.child == "A" else child_plain()
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0

    pairs = args.pairs or (1 if args.quick else 4)
    print_machine("Training throughput: worker path (A) vs plain model.fit (B)")
    print(
        f"default CNN preset, batch {BATCH}, {N_IMAGES} images, 1 warm-up epoch + "
        f"{TIMED_EPOCHS} timed epochs, each side in a fresh subprocess, {pairs} pair(s) A B ...\n"
    )
    rows, ratios, cpu_ratios, first = [], [], [], {}
    for i in range(1, pairs + 1):
        load = load_average().split()[0]
        a = run_side("A")
        b = run_side("B")
        first = first or {"A": a, "B": b}
        ratio = a["images_per_s"] / b["images_per_s"]
        cpu_ratio = a["images_per_cpu_s"] / b["images_per_cpu_s"]
        ratios.append(ratio)
        cpu_ratios.append(cpu_ratio)
        rows.append(
            (
                f"pair {i}",
                load,
                f"{a['images_per_s']:.0f}",
                f"{b['images_per_s']:.0f}",
                f"{ratio:.2f}x",
                f"{a['seconds']:.1f} / {b['seconds']:.1f}",
                f"{cpu_ratio:.2f}x",
            )
        )
        print(f"  pair {i}: A {a['images_per_s']:.0f} img/s, B {b['images_per_s']:.0f} img/s")
    print()
    for side, label in (("A", "worker"), ("B", "plain")):
        r = first[side]
        print(
            f"{side} ({label}): oneDNN {'on' if r['onednn'] else 'off'} "
            f"(TF_ENABLE_ONEDNN_OPTS={r['env_onednn']}), {r['params']:,} params, "
            f"layers {' > '.join(r['layers'])}"
        )
    print(f"data: {first['A']['source']}\n")
    print_table(
        ("pair", "load", "A img/s", "B img/s", "A/B", "timed s A / B", "A/B per CPU-s"), rows
    )
    print(
        "load: 1-min load average when the pair began (2 CPUs; above 2 means other work "
        "competed). A/B per CPU-s: images per CPU-second of the child, less sensitive to "
        "other processes than wall time."
    )
    med = median(ratios)
    print()
    print(f"median A/B = {med:.2f}x, range {min(ratios):.2f}x - {max(ratios):.2f}x ({pairs} pairs)")
    print(
        f"median A/B per CPU-second = {median(cpu_ratios):.2f}x, "
        f"range {min(cpu_ratios):.2f}x - {max(cpu_ratios):.2f}x"
    )
    verdict(
        med >= TARGET,
        f"worker path trains {med:.2f}x as fast as plain fit (median; target >= {TARGET}x)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
