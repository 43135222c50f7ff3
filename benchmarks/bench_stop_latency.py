"""Stop latency: how long a run takes from the Stop request to its final status, and where.

    .venv/bin/python benchmarks/bench_stop_latency.py [--dataset fashion_mnist]

Starts the worker on the Train page's defaults (default CNN preset, batch 64,
validation 10%) on the full-size dataset from ../shared/data (Fashion-MNIST:
54,000 training, 6,000 validation, 10,000 test images, 844 batches an epoch),
requests a stop a few batches into epoch 1, and prints the seconds from the
request until each file the worker writes after it: the partial epoch's line in
metrics.jsonl (the end of the epoch: validation pass, if any, and the model
save), evaluation.json (the test-set evaluation) and status.json's final state.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - puts the project root on sys.path
from common import SHARED_DATA


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--stop-after-batches", type=int, default=3)
    args = parser.parse_args()
    os.environ["CNN_DATA_DIR"] = str(SHARED_DATA)
    os.environ["CNN_RUNS_DIR"] = tempfile.mkdtemp(prefix="bench-stop-")
    from cnn_core import runs
    from cnn_core.config import TrainConfig
    from cnn_core.worker import launch_run

    folder, _ = launch_run(TrainConfig(dataset=args.dataset))
    while True:
        progress = folder.read_progress()
        if progress and progress.batch >= args.stop_after_batches:
            break
        if not runs.load_run(folder.path).active:
            raise SystemExit(f"the run ended before the stop: {runs.load_run(folder.path).message}")
        time.sleep(0.05)
    asked = time.monotonic()
    folder.request_stop()
    seen: dict[str, float] = {}
    watched = {
        "partial epoch recorded": folder.metrics_path,
        "test evaluation stored": folder.evaluation_path,
    }
    while runs.load_run(folder.path).active:
        for what, path in watched.items():
            if what not in seen and Path(path).exists():
                seen[what] = time.monotonic() - asked
        time.sleep(0.05)
    for what, path in watched.items():
        if what not in seen and Path(path).exists():
            seen[what] = time.monotonic() - asked
    seen["final status"] = time.monotonic() - asked
    run = runs.load_run(folder.path)
    print(f"{args.dataset}: stop requested after batch {progress.batch}/{progress.batches}")
    for what, seconds in seen.items():
        print(f"  {what:<26} {seconds:6.1f} s after the request")
    print(f"  state {run.state}, history {[r.to_dict() for r in folder.read_history()]}")


if __name__ == "__main__":
    main()
