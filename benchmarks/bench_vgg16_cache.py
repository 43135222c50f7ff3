"""VGG16 on a CPU: the frozen part computed once (feature cache) vs the whole network.

    .venv/bin/python benchmarks/bench_vgg16_cache.py [--n 2000] [--sizes 32 64]

For each input size, in a fresh subprocess (so peak RSS is that size's own):
CIFAR-sized synthetic data (random uint8 32x32x3, 10 classes, `--n` training
images), VGG16 built by `cnn_core.models.vgg16_build.build_vgg16` with random weights
(the ImageNet file is not downloadable here; the arithmetic and so the speed
are the same), batch 64, Adam.

- the one-off feature extraction (`vgg16_features.cached_features`: block4_pool
  and block5_pool outputs, one pass, memory-mapped float16 on disk);
- seconds per epoch of the head phase and of block5 fine-tuning, with the cache
  (the tail model on cached outputs) and without it (the whole network on the
  images), both as the worker trains them (trainable convs on small maps as
  patches, `cnn_core.models.patch_conv`), and for comparison block5 fine-tuning with
  the library's convolutions (the model as Keras builds it), each the second epoch of a
  two-epoch fit (the first traces the graph), timed from epoch begin to end as
  the worker's history times them;
- the scratch CNN (the studio's default preset) on the same images, for comparison;
- peak RSS of the process (`ru_maxrss`).

Epoch times are also scaled linearly to 50,000 images (CIFAR-10's training set).
Targets: head epochs >= 20x faster with the cache, fine-tuning epochs >= 3x.

    .venv/bin/python benchmarks/bench_vgg16_cache.py --worker 50000 [--sizes 32]

instead trains a real run through the worker's command line (`python -m
cnn_core.training.worker --config ...`) on a CIFAR-10 look-alike of that many training
images (+ 10,000 test images): one head epoch and one fine-tuning epoch with
the cache, in a fresh cache folder. It prints the run's peak RSS (target
< 1.5 GB at 32 px on 50,000 images), the feature extraction time and each
epoch's seconds as the run recorded them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    PYTHON,
    bench_env,
    print_machine,
    print_table,
    train_with_worker_cli,
    verdict,
)

FULL_N = 50_000


def child(n: int, size: int) -> dict:
    """Measure one input size in this process; return the figures."""
    import numpy as np

    from cnn_core.base.tf_runtime import import_keras
    from cnn_core.models.cnn import build_model
    from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD, vgg16_spec
    from cnn_core.models.vgg16_build import set_phase, tail_model
    from cnn_core.schema.config import DEFAULT_PRESET, PRESETS, FitSpec, OptimizerSpec, TrainConfig
    from cnn_core.store.folder import RunFolder
    from cnn_core.training.loop import compile_for_run
    from cnn_core.training.vgg16_features import CACHED_LAYER, cached_features, feature_batches

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n)
    spec = vgg16_spec("fine_tune", size, weights="none")
    config = TrainConfig(
        dataset="cifar10",
        model=spec,
        optimizer=OptimizerSpec(schedule="constant"),
        fit=FitSpec(batch_size=64, epochs=1, early_stopping=False),
    )
    model = build_model(spec, (32, 32, 3), 10, seed=0)
    batches = math.ceil(n / 64)
    keras = import_keras()

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self.start)

    out: dict = {"size": size, "n": n}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        features = cached_features(model, config, {"train": x}, RunFolder(Path(tmp)))
        out["extract_s"] = time.perf_counter() - start

        def epoch_seconds(fit_model, **fit_args) -> float:
            """The second epoch of a two-epoch fit, timed as the worker's history
            times epochs (the first traces the graph; fit's own set-up is left out)."""
            compile_for_run(fit_model, config, batches)
            timer = EpochTimer()
            fit_model.fit(**fit_args, epochs=2, verbose=0, callbacks=[timer])
            return timer.seconds[-1]

        for phase in (PHASE_HEAD, PHASE_FINE_TUNE):
            set_phase(model, phase)
            layer = CACHED_LAYER[phase]

            def cached(patches: bool, layer: str = layer) -> float:
                tail = tail_model(model, layer, patch_trainable=patches)
                return epoch_seconds(tail, x=feature_batches(features["train"][layer], y, 64, 0))

            # As the worker trains: trainable convs on small maps as patches.
            out[f"{phase}_cached_s"] = cached(True)
            whole = tail_model(model, model.layers[0].name, patch_trainable=True)
            out[f"{phase}_full_s"] = epoch_seconds(whole, x=x, y=y, batch_size=64)
        # Block5's library convolutions (before cnn_core.models.patch_conv), for comparison.
        out["fine-tune_plain_cached_s"] = cached(False)
        out["fine-tune_plain_full_s"] = epoch_seconds(model, x=x, y=y, batch_size=64)
        scratch = build_model(PRESETS[DEFAULT_PRESET], (32, 32, 3), 10)
        out["scratch_s"] = epoch_seconds(scratch, x=x, y=y, batch_size=64)
        out["cache_mb"] = sum(a.nbytes for a in features["train"].values()) / 1e6
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def worker_run(n: int, size: int) -> None:
    """A real two-phase VGG16 run through the worker CLI on `n` training images."""
    from cnn_core.models.vgg16 import vgg16_spec
    from cnn_core.schema.config import FitSpec, OptimizerSpec, TrainConfig
    from scripts.synthetic_data import write_cifar_like

    with tempfile.TemporaryDirectory(prefix="bench-vgg16-") as tmp:
        start = time.perf_counter()
        write_cifar_like(Path(tmp) / "cifar-10-batches-py", per_batch=n // 5, n_test=10_000)
        seconds = time.perf_counter() - start
        print(f"{size} px: wrote {n // 5 * 5:,} + 10,000 images in {seconds:.0f} s")
        config = TrainConfig(
            dataset="cifar10",
            model=vgg16_spec("fine_tune", size, weights="none", fine_tune_epochs=1),
            optimizer=OptimizerSpec(schedule="constant"),
            fit=FitSpec(batch_size=64, epochs=1, early_stopping=False),
        )
        env = bench_env(CNN_DATA_DIR=tmp, CNN_CACHE_DIR=str(Path(tmp) / "cache"))
        result = train_with_worker_cli(config, env, timeout=4 * 3600)
    if result["state"] != "completed":
        print(f"the run ended {result['state']}: {result['message']}\n{result['output']}")
        return
    epochs = result["epochs"]
    epoch_s = sum(seconds for _, seconds in epochs)
    print_table(
        ["input", "train / val", "features once (all splits)", "epochs (phase: s)", "wall", "RSS"],
        [
            [
                f"{size} px",
                f"{result['n_train']:,} / {result['n_val']:,}",
                f"{result['train_s'] - epoch_s:.0f} s",
                ", ".join(f"{phase}: {seconds:.0f} s" for phase, seconds in epochs),
                f"{result['wall_s']:.0f} s",
                f"{result['peak_mb']:.0f} MB (polled {result['polled_mb']:.0f})",
            ]
        ],
    )
    if size == 32:
        verdict(result["peak_mb"] < 1536, f"peak RSS < 1.5 GB at 32 px on {n:,} images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="training images per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=int, help="a real run through the worker on N images")
    args = parser.parse_args()
    if args.worker:
        print_machine("VGG16: a two-phase run through the worker, with the cache")
        for size in args.sizes:
            worker_run(args.worker, size)
        return
    if args.child:
        print(json.dumps(child(args.n, args.child)))
        return
    print_machine("VGG16: feature cache vs the whole network")
    print(f"{args.n:,} CIFAR-sized images per size; epochs scaled x{FULL_N / args.n:g} to 50,000")
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "CNN_CACHE_DIR": cache}
            command = [PYTHON, __file__, "--n", str(args.n), "--child", str(size)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{size} px: the measuring process failed:\n{done.stderr[-3000:]}")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    scale = FULL_N / args.n
    rows = []
    for r in results:
        rows.append(
            [
                f"{r['size']} px",
                f"{r['extract_s']:.1f} s ({r['n'] / r['extract_s']:.0f} img/s)",
                f"{r['head_cached_s']:.2f} / {r['head_full_s']:.1f}",
                f"{r['head_full_s'] / r['head_cached_s']:.0f}x",
                f"{r['fine-tune_cached_s']:.2f} / {r['fine-tune_full_s']:.1f}",
                f"{r['fine-tune_full_s'] / r['fine-tune_cached_s']:.1f}x",
                f"{r['fine-tune_plain_cached_s']:.2f} / {r['fine-tune_plain_full_s']:.1f}",
                f"{r['fine-tune_plain_full_s'] / r['fine-tune_cached_s']:.1f}x",
                f"{r['scratch_s']:.2f}",
                f"{r['head_cached_s'] * scale:.0f} / {r['head_full_s'] * scale:.0f}",
                f"{r['extract_s'] * scale / 60:.1f} min",
                f"{r['cache_mb'] * scale:.0f} MB",
                f"{r['peak_rss_mb']:.0f} MB",
            ]
        )
    print_table(
        [
            "input",
            "features once",
            "head epoch s cached / full",
            "head speed-up",
            "fine-tune epoch s cached / full",
            "fine-tune speed-up",
            "library convs: cached / full",
            "full library / cached",
            "scratch CNN epoch s",
            "head epoch at 50k: cached / full s",
            "features at 50k",
            "cache at 50k",
            "peak RSS",
        ],
        rows,
    )
    for r in results:
        verdict(
            r["head_full_s"] / r["head_cached_s"] >= 20,
            f"{r['size']} px head epochs >= 20x faster with the cache",
        )
        verdict(
            r["fine-tune_full_s"] / r["fine-tune_cached_s"] >= 3,
            f"{r['size']} px fine-tuning epochs >= 3x faster with the cache",
        )


if __name__ == "__main__":
    sys.exit(main())
