"""How well each novelty score tells MNIST digits from Fashion-MNIST items (AUROC).

    .venv/bin/python benchmarks/bench_novelty.py [--epochs 3] [--subset 20000]

(a) A Fashion-MNIST model, trained here by `cnn_core.training.loop.train_run` (the
    worker's own loop: the app's default CNN, Adam, early stopping; the first
    `--subset` training images after shuffling, `--epochs` epochs), shown the
    Fashion-MNIST test images (in-distribution) and the MNIST test images (out).
(b) The starter MNIST model that ships with CNN Studio, the other way round:
    MNIST test images in, Fashion-MNIST test images out.

Each score (`cnn_core.insight.novelty.SCORE_KINDS`) is fitted as the Predict page fits
it: the Mahalanobis fit on up to 5,000 training images, the threshold at the
95th percentile of the first half of the in-distribution test images. AUROC and
the false-alarm rate (in-distribution images flagged) are measured on the
OTHER half, and the detection rate on every out-of-distribution test image.
Needs ../shared/data (or $CNN_DATA_DIR) with both datasets; skips otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED_DATA, print_machine, print_table

FIT_IMAGES = 5000  # as pages/_shared/novelty_view.py


def have_data() -> bool:
    return all(
        (SHARED_DATA / folder / "t10k-images-idx3-ubyte.gz").is_file()
        for folder in ("mnist", "fashion-mnist")
    )


def train_fashion_model(runs_dir: Path, epochs: int, subset: int) -> Path:
    """A Fashion-MNIST run through `train_run`; returns its model file."""
    from cnn_core.schema.config import FitSpec, TrainConfig
    from cnn_core.store.folder import create_run
    from cnn_core.training.loop import train_run

    config = TrainConfig(
        dataset="fashion_mnist",
        fit=FitSpec(epochs=epochs),
        train_subset=subset,
        name="bench_novelty",
    )
    folder = create_run(config, runs_dir)
    start = time.perf_counter()
    state = train_run(folder)
    evaluation = folder.read_evaluation()
    accuracy = evaluation.accuracy if evaluation else float("nan")
    print(
        f"trained: {state.value}, {epochs} epoch(s) on {subset:,} images in "
        f"{time.perf_counter() - start:.0f} s, test accuracy {accuracy:.2%}"
    )
    return folder.model_path


def measure(model_path: Path, inside: str, outside: str) -> list[list[object]]:
    """One table row per score kind for a model trained on `inside`."""
    import numpy as np

    from cnn_core.data.registry import load_dataset
    from cnn_core.insight import novelty
    from cnn_core.models.cnn import load_trained_model

    reader = novelty.FeatureReader(load_trained_model(model_path))
    data_in, data_out = load_dataset(inside), load_dataset(outside)
    fit = novelty.sample_indices(len(data_in.y_train), FIT_IMAGES)
    x_test = data_in.x_test.astype(np.float32)
    half = len(x_test) // 2
    calibration, heldout = x_test[:half], x_test[half:]
    start = time.perf_counter()
    feats = {
        "fit": reader.features(data_in.x_train[fit].astype(np.float32)),
        "calibration": reader.features(calibration),
        "heldout": reader.features(heldout),
        "out": reader.features(data_out.x_test.astype(np.float32)),
    }
    seconds = time.perf_counter() - start
    print(f"features of {sum(len(f) for f in feats.values()):,} images: {seconds:.1f} s")
    gaussians = novelty.fit_gaussians(feats["fit"], data_in.y_train[fit])
    rows = []
    for kind in novelty.SCORE_KINDS:
        scores = {
            name: novelty.score(kind, f, reader.logits(f), gaussians) for name, f in feats.items()
        }
        threshold = novelty.threshold_for(scores["calibration"])
        false_alarms = float(np.mean(scores["heldout"] > threshold))
        detected = float(np.mean(scores["out"] > threshold))
        area = novelty.auroc(scores["heldout"], scores["out"])
        rows.append([kind, f"{area:.3f}", f"{false_alarms:.1%}", f"{detected:.1%}"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--subset", type=int, default=20000)
    args = parser.parse_args()
    if not have_data():
        print(f"skipped: MNIST and Fashion-MNIST not found under {SHARED_DATA}")
        return 0
    os.environ["CNN_DATA_DIR"] = str(SHARED_DATA)
    print_machine("Novelty scores: MNIST vs Fashion-MNIST")
    headers = ["score", "AUROC", "false alarms (in, held out)", "flagged (out)"]
    with tempfile.TemporaryDirectory(prefix="bench-novelty-") as tmp:
        model = train_fashion_model(Path(tmp) / "runs", args.epochs, args.subset)
        print("\n(a) Fashion-MNIST model: Fashion-MNIST test in, MNIST test out")
        print_table(headers, measure(model, "fashion_mnist", "mnist"))
    from cnn_core.store.folder import STARTER_ROOT, run_folder

    print("\n(b) starter MNIST model: MNIST test in, Fashion-MNIST test out")
    starter = run_folder("mnist-starter", STARTER_ROOT).model_path
    print_table(headers, measure(starter, "mnist", "fashion_mnist"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
