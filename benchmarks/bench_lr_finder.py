"""The learning-rate finder's cost estimate against its measured time, and its suggestion.

    .venv/bin/python benchmarks/bench_lr_finder.py [--subset N]

For the softmax baseline, the studio's default CNN and the TF Deep MNIST net,
each at batch 64 on MNIST (../shared/data, or $CNN_DATA_DIR; a training subset
of `--subset` images, default all: 5,000 in the shared sample), runs the range test in this process
(`cnn_core.training.lr_finder.run_range_test`, as the worker does, in a temporary
store) and prints the batches it ran, the seconds per batch it measured and
the one `lr_finder.estimate_seconds` predicted, where it stopped and the rate
it suggested. TensorFlow's start-up is not in the measured time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import SHARED_DATA, print_table

from cnn_core.data.registry import dataset_info
from cnn_core.models.plan import describe_model
from cnn_core.schema.config import PRESETS, FitSpec, ModelSpec, TrainConfig
from cnn_core.store.lr_tests import create_lr_test
from cnn_core.training.lr_finder import RangePlan, estimate_seconds, read_result, run_range_test

MODELS = {
    "softmax": ModelSpec(kind="softmax"),
    "default CNN": next(spec for name, spec in PRESETS.items() if name.startswith("Studio")),
    "TF Deep MNIST": next(spec for name, spec in PRESETS.items() if "Deep MNIST" in name),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subset", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("CNN_DATA_DIR", str(SHARED_DATA))
    info = dataset_info("mnist")
    rows = []
    with tempfile.TemporaryDirectory() as store:
        for title, spec in MODELS.items():
            config = TrainConfig(
                model=spec, fit=FitSpec(batch_size=64), train_subset=args.subset, seed=1
            )
            layers = describe_model(spec, info.image_shape, len(info.class_names))
            folder = create_lr_test(config, Path(store))
            run_range_test(folder)
            result = read_result(folder)
            assert result is not None
            done = len(result.rates)
            plan = RangePlan(result.planned_steps, result.batch_size)
            suggested = result.suggestion.rate if result.suggestion else None
            rows.append(
                (
                    title,
                    f"{done}/{plan.steps}",
                    f"{1000 * result.seconds / done:.1f}",
                    f"{1000 * estimate_seconds(layers, plan) / plan.steps:.1f}",
                    result.stop_reason,
                    f"{suggested:g}" if suggested else "none",
                )
            )
    print_table(
        ["model", "batches", "measured ms/batch", "estimated ms/batch", "stop", "suggested"],
        rows,
    )


if __name__ == "__main__":
    main()
