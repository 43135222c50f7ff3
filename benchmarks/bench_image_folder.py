"""My images: the checking pass, folder vs in-memory training throughput, peak RSS.

    .venv/bin/python benchmarks/bench_image_folder.py [--images 5000] [--side 128]
                                                      [--epochs 3] [--batch 64]

A generated folder of `--images` JPEGs (three classes of coloured shapes,
`scripts/shape_images.py`) at `--side` x `--side` px is imported with
`cnn_core.data.user.importer.import_server_folder` (every file decoded with the upload
rules, resized, its pixels written to the dataset's pixel file) in a child
process: images/s of that checking pass and the child's peak RSS (VmHWM).

Then the "Small RGB net" preset trains on the imported images in two fresh child
processes, batch `--batch`, `--epochs` epochs with no validation split:
  folder:    `training.loop.fit_data`'s tf.data stream from the pixel file (the worker's path);
  in-memory: the same images read whole into one uint8 array, `model.fit(x, y)`.
Throughput is training images/s over the epochs after the first (the first
warms up TensorFlow); the two run interleaved `--pairs` times and the best of
each counts. The folder child also times one pass of the stream alone.
Target: folder >= 80% of in-memory, and the folder path's peak RSS (checking pass,
training from the folder) < 1.5 GB; the in-memory reference's is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import MB, PYTHON, bench_env, print_machine, print_table, verdict, wait_peak_rss

PRESET = "Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128"
RSS_LIMIT_MB = 1536
THROUGHPUT_TARGET = 0.8


def child_import(folder: Path, side: int) -> dict:
    from cnn_core.data.registry import dataset_info
    from cnn_core.data.user.importer import import_server_folder
    from cnn_core.data.user.options import ImageOptions

    start = time.perf_counter()
    key = import_server_folder("bench", str(folder), ImageOptions(side=side, validation=0.1))
    seconds = time.perf_counter() - start
    n = dataset_info(key)
    return {"key": key, "seconds": seconds, "images": n.n_train + n.n_test}


def child_train(key: str, mode: str, epochs: int, batch: int) -> dict:
    import numpy as np

    from cnn_core.base.tf_runtime import import_keras
    from cnn_core.data.registry import load_dataset
    from cnn_core.models.cnn import build_model
    from cnn_core.schema.config import PRESETS, TrainConfig
    from cnn_core.training.loop import compile_for_run, fit_data

    keras = import_keras()
    dataset = load_dataset(key)
    # Train on every image the dataset holds for training (no validation split here).
    train_idx = np.arange(len(dataset.y_train))
    config = TrainConfig(dataset=key, model=PRESETS[PRESET])
    model = build_model(config.model, dataset.info.image_shape, len(dataset.info.class_names))
    batches = -(-len(train_idx) // batch)
    compile_for_run(model, config, batches)
    read_rate = 0.0
    if mode == "folder":
        data = fit_data(dataset, train_idx, train_idx[:0], batch, seed=0)
        data.pop("validation_data")
        start = time.perf_counter()
        seen = sum(len(y) for _, y in data["x"])  # one pass of the stream alone, no model
        read_rate = seen / (time.perf_counter() - start)
    else:
        x = np.asarray(dataset.x_train)  # uint8 (n, h, w, c), whole in memory
        data = {"x": x, "y": dataset.y_train, "batch_size": batch}

    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            times.append(time.perf_counter() - self.start)

    model.fit(**data, epochs=epochs, callbacks=[Clock()], verbose=0)
    later = times[1:] or times
    return {
        "images": len(train_idx),
        "epoch_seconds": times,
        "rate": len(train_idx) / (sum(later) / len(later)),
        "read_rate": read_rate,
    }


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """Run this script as a child; its JSON result and peak RSS in MB."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([PYTHON, __file__, *args], stdout=out, stderr=err, env=env)
        code, peak_mb = wait_peak_rss(proc)
        out.seek(0)
        err.seek(0)
        if code != 0:
            sys.exit(f"child {args} failed:\n{err.read()[-3000:]}")
        return json.loads(out.read().strip().splitlines()[-1]), peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=2, help="folder/in-memory runs (best kept)")
    parser.add_argument("--child", choices=["import", "folder", "memory"])
    parser.add_argument("--key", default="")
    parser.add_argument("--folder", default="")
    args = parser.parse_args()
    if args.child == "import":
        print(json.dumps(child_import(Path(args.folder), args.side)))
        return
    if args.child:
        print(json.dumps(child_train(args.key, args.child, args.epochs, args.batch)))
        return

    from scripts.shape_images import write_shapes

    print_machine("My images: checking pass and folder vs in-memory training")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = bench_env(CNN_DATA_DIR=str(data))
        per_class = args.images // 3
        start = time.perf_counter()
        write_shapes(data / "shapes", per_class, args.side, formats=("jpg",))
        seconds = time.perf_counter() - start
        print(f"generated {3 * per_class:,} JPEGs at {args.side} px square in {seconds:.1f} s")
        common = [
            "--side",
            str(args.side),
            "--epochs",
            str(args.epochs),
            "--batch",
            str(args.batch),
        ]
        checked, import_rss = run_child(["--child", "import", "--folder", "shapes", *common], env)
        key = checked["key"]
        results: dict[str, list[tuple[dict, float]]] = {"folder": [], "memory": []}
        for _ in range(args.pairs):  # interleaved, so machine noise hits both alike
            for mode in results:
                results[mode].append(run_child(["--child", mode, "--key", key, *common], env))
        folder, folder_rss = max(results["folder"], key=lambda r: r[0]["rate"])
        memory, memory_rss = max(results["memory"], key=lambda r: r[0]["rate"])
        pixels = sum(p.stat().st_size for p in (data / "my_images").rglob("*.u8"))

    check_rate = checked["images"] / checked["seconds"]
    print(f"pixel file: {pixels / MB:.0f} MB for {checked['images']:,} images\n")
    rows = [
        ["checking pass (decode, resize, store)", f"{check_rate:,.0f}", "", f"{import_rss:,.0f}"],
        ["the folder's tf.data stream alone", f"{folder['read_rate']:,.0f}", "", ""],
        [
            "train from the folder (tf.data)",
            f"{folder['rate']:,.0f}",
            _epochs(folder),
            f"{folder_rss:,.0f}",
        ],
        [
            "train from an in-memory array",
            f"{memory['rate']:,.0f}",
            _epochs(memory),
            f"{memory_rss:,.0f}",
        ],
    ]
    print_table(["step", "images/s", "epoch seconds", "peak RSS MB"], rows)
    ratio = folder["rate"] / memory["rate"]
    # The RSS target is the folder path's (checking pass and streamed training); the
    # in-memory reference holds every image in RAM by design.
    peak = max(import_rss, folder_rss)
    print(f"\nfolder / in-memory throughput after the first epoch: {ratio:.2f}")
    verdict(
        ratio >= THROUGHPUT_TARGET and peak < RSS_LIMIT_MB,
        f"folder keeps {ratio:.0%} of in-memory throughput (target >= {THROUGHPUT_TARGET:.0%}), "
        f"folder path's peak RSS {peak:,.0f} MB (target < {RSS_LIMIT_MB:,} MB; in-memory "
        f"reference {memory_rss:,.0f} MB)",
    )


def _epochs(result: dict) -> str:
    return " / ".join(f"{s:.1f}" for s in result["epoch_seconds"])


if __name__ == "__main__":
    main()
