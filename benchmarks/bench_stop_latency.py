"""Stop latency: how long a run takes from the Stop request to its final status, and where.

    .venv/bin/python benchmarks/bench_stop_latency.py [--dataset fashion_mnist]

Starts the worker on the Train page's defaults (default CNN preset, batch 64,
validation 10%) on the full-size dataset from ../shared/data (Fashion-MNIST:
54,000 training, 6,000 validation, 10,000 test images, 844 batches an epoch),
requests a stop a few batches into epoch 1, and prints the seconds from the
request until each file the worker writes after it: the partial epoch's line in
metrics.jsonl (the end of the epoch: validation pass, if any, and the model
save), evaluation.json (the test-set evaluation) and status.json's final state.
The page shows "stopping" as soon as the request is written (it reads the
request, not the worker); the figure here is how long that state lasts.
Target: the final state within 10 s of the request on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - puts the project root on sys.path
from common import SHARED_DATA, print_machine, print_table, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--stop-after-batches", type=int, default=3)
    args = parser.parse_args()
    os.environ["CNN_DATA_DIR"] = str(SHARED_DATA)
    os.environ["CNN_RUNS_DIR"] = tempfile.mkdtemp(prefix="bench-stop-")
    from cnn_core.schema.config import TrainConfig
    from cnn_core.store.runs import load_run
    from cnn_core.training.worker import launch_run

    folder, _ = launch_run(TrainConfig(dataset=args.dataset))
    while True:
        progress = folder.read_progress()
        if progress and progress.batch >= args.stop_after_batches:
            break
        if not load_run(folder.path).active:
            raise SystemExit(f"the run ended before the stop: {load_run(folder.path).message}")
        time.sleep(0.05)
    asked = time.monotonic()
    folder.request_stop()
    seen: dict[str, float] = {}
    watched = {
        "partial epoch recorded": folder.metrics_path,
        "test evaluation stored": folder.evaluation_path,
    }
    while load_run(folder.path).active:
        for what, path in watched.items():
            if what not in seen and Path(path).exists():
                seen[what] = time.monotonic() - asked
        time.sleep(0.05)
    for what, path in watched.items():
        if what not in seen and Path(path).exists():
            seen[what] = time.monotonic() - asked
    seen["final status"] = time.monotonic() - asked
    run = load_run(folder.path)
    print_machine("Stop latency")
    print(f"{args.dataset}: stop requested after batch {progress.batch}/{progress.batches}")
    print_table(["step", "seconds after the request"], [(k, f"{v:.1f}") for k, v in seen.items()])
    print(f"state {run.state}; epochs recorded: {[r.to_dict() for r in folder.read_history()]}")
    verdict(seen["final status"] <= 10.0, f"final state {seen['final status']:.1f} s after Stop")


if __name__ == "__main__":
    main()
