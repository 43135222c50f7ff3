"""Test accuracy and wall time of the default CNN trained through the worker CLI.

    .venv/bin/python benchmarks/bench_accuracy.py [--quick] [--only fashion_mnist|mnist]

Each run is `python -m cnn_core.training.worker --config cfg.json --runs-dir <tmp>` with
the app's default settings (default preset, Adam 1e-3, batch 64, 10 % validation,
early stopping with patience 3, seed 42), CNN_DATA_DIR=../shared/data:

(a) Fashion-MNIST, the full 60,000 training images, 10 epochs. Target: >= 92 %.
(b) MNIST, the 5,000-image class-balanced sample in ../shared/data (not the full
    60,000), 10 epochs: expect 1-2 points below what the same network reaches on
    the full set (about 99 %).

`--quick` trains 1 epoch each (a smoke run; the target applies to 10 epochs).
Figures come from the run folder: evaluation.json (test accuracy on the 10,000
test images), status.json (train_seconds) and metrics.jsonl (epochs run).
"""

from __future__ import annotations

import argparse
import sys

from common import (
    SHARED_DATA,
    bench_env,
    print_machine,
    print_table,
    train_with_worker_cli,
    verdict,
)

TARGET = 0.92
CASES = {
    "fashion_mnist": "Fashion-MNIST, full 60,000 train",
    "mnist": "MNIST, 5,000-image sample (not the full 60,000)",
}
FOLDERS = {"fashion_mnist": "fashion-mnist", "mnist": "mnist"}


def train_through_cli(dataset: str, epochs: int) -> dict:
    """One worker CLI run with the app's defaults; see `train_with_worker_cli`."""
    from cnn_core.schema.config import FitSpec, TrainConfig

    name = f"bench_accuracy {dataset}"
    config = TrainConfig(dataset=dataset, fit=FitSpec(epochs=epochs), name=name)
    env = bench_env(CNN_DATA_DIR=str(SHARED_DATA))
    return train_with_worker_cli(config, env, timeout=4 * 3600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch each instead of 10")
    parser.add_argument("--only", choices=tuple(CASES), help="run one dataset only")
    args = parser.parse_args()
    epochs = 1 if args.quick else 10
    print_machine("Accuracy of the default CNN through the worker CLI")
    print(f"default preset, app defaults, {epochs} epoch(s) requested, data from {SHARED_DATA}")
    if args.quick:
        print("--quick: 1 epoch each; the >= 92 % target applies to the 10-epoch run")
    print()

    results = {}
    for dataset, label in CASES.items():
        if args.only and dataset != args.only:
            continue
        if not (SHARED_DATA / FOLDERS[dataset]).is_dir():
            print(f"skip {label}: {SHARED_DATA / FOLDERS[dataset]} not found")
            continue
        print(f"training {label} ...", flush=True)
        results[dataset] = train_through_cli(dataset, epochs)
        r = results[dataset]
        if r["exit"] != 0 or r.get("state") != "completed":
            print(f"  run did not complete ({r.get('state')}: {r.get('message')}):\n{r['output']}")

    rows = []
    for dataset, r in results.items():
        acc, best_val = r.get("accuracy"), r.get("best_val")
        rows.append(
            (
                CASES[dataset],
                f"{r.get('n_train') or '-'} / {r.get('n_val') or '-'}",
                f"{r.get('epochs_run', 0)}/{epochs}",
                f"{acc:.2%}" if acc is not None else "-",
                f"{best_val:.2%}" if best_val else "-",
                f"{r['train_s']:.0f}" if r.get("train_s") else "-",
                f"{r['wall_s']:.0f}",
                f"{r['peak_mb']:.0f}",
                ">= 92 %" if dataset == "fashion_mnist" else "1-2 pts below full set",
            )
        )
    print()
    print_table(
        (
            "dataset",
            "train / val",
            "epochs",
            "test acc",
            "best val acc",
            "train s",
            "wall s",
            "peak MB",
            "target",
        ),
        rows,
    )
    print(
        "wall s: the whole worker command (TensorFlow import, data loading, training, "
        "test evaluation, saving); train s: model.fit only (status.json train_seconds)."
    )
    fashion = results.get("fashion_mnist", {}).get("accuracy")
    if fashion is None:
        print("VERDICT: n/a - no Fashion-MNIST result")
    elif args.quick:
        print(
            f"VERDICT: n/a - --quick smoke run: Fashion-MNIST {fashion:.2%} after 1 epoch "
            f"(the >= {TARGET:.0%} target is for the 10-epoch run)"
        )
    else:
        verdict(
            fashion >= TARGET,
            f"Fashion-MNIST test accuracy {fashion:.2%} after {epochs} epochs "
            f"(target >= {TARGET:.0%})",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
