"""Make the starter MNIST model that ships in `cnn_core/store/starter/mnist-starter/`.

    python scripts/make_starter_model.py [--epochs 30] [--out cnn_core/store/starter/mnist-starter]

Trains the project's own CNN (two 3x3 conv blocks with batch norm, dense 128
with dropout) on the MNIST training images found by the usual lookup
(`$CNN_DATA_DIR`, default ../shared/data when present: the 5,000-image
class-balanced sample; full MNIST wherever that is installed), with small
random shifts, rotations and zooms so hand-drawn digits are recognised, and
evaluates it once on the 10,000 official test images. The result is a normal
run folder, so every page lists it like a trained run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnn_core.base.tf_runtime import import_keras  # noqa: E402
from cnn_core.data.registry import load_dataset, split_indices  # noqa: E402
from cnn_core.models.cnn import build_model, make_optimizer  # noqa: E402
from cnn_core.models.evaluate import evaluate_model  # noqa: E402
from cnn_core.schema.config import (  # noqa: E402
    PRESETS,
    STARTER_PRESET,
    FitSpec,
    OptimizerSpec,
    TrainConfig,
)
from cnn_core.schema.records import RunState  # noqa: E402
from cnn_core.store.folder import STARTER_ROOT, RunFolder  # noqa: E402
from cnn_core.training.callbacks import make_recorder  # noqa: E402

STARTER_SPEC = PRESETS[STARTER_PRESET]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default=str(STARTER_ROOT / "mnist-starter"))
    args = parser.parse_args()
    shared = REPO.parent / "shared" / "data"
    if "CNN_DATA_DIR" not in os.environ and shared.is_dir():
        os.environ["CNN_DATA_DIR"] = str(shared)

    config = TrainConfig(
        dataset="mnist",
        model=STARTER_SPEC,
        optimizer=OptimizerSpec("adam", 1e-3, "cosine"),
        fit=FitSpec(batch_size=64, epochs=args.epochs, early_stopping=False),
        validation=500,
        seed=2026,
        name="Starter MNIST CNN",
    )
    dataset = load_dataset("mnist")
    train_idx, val_idx = split_indices(dataset.y_train, 500, config.seed)
    keras = import_keras()
    import tensorflow as tf

    out = RunFolder(Path(args.out))
    if out.path.exists():
        shutil.rmtree(out.path)
    out.path.mkdir(parents=True)
    out.write_config(config)
    out.write_status(RunState.RUNNING, created=time.time(), pid=None)

    augment = keras.Sequential(
        [
            keras.layers.RandomRotation(0.03, fill_mode="constant", seed=1),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=2),
            keras.layers.RandomZoom((-0.1, 0.1), fill_mode="constant", seed=3),
        ]
    )
    x_train = dataset.x_train[train_idx].astype("float32")
    train = (
        tf.data.Dataset.from_tensor_slices((x_train, dataset.y_train[train_idx]))
        .shuffle(len(train_idx), seed=config.seed)
        .batch(config.fit.batch_size)
        .map(lambda x, y: (augment(x, training=True), y))
        .prefetch(2)
    )
    x_val = dataset.x_train[val_idx].astype("float32")
    model = build_model(config.model, dataset.info.image_shape, 10, config.seed)
    model.compile(
        optimizer=make_optimizer(config.optimizer, decay_steps=args.epochs * len(train)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        train,
        validation_data=(x_val, dataset.y_train[val_idx]),
        epochs=args.epochs,
        callbacks=[
            make_recorder(out, args.epochs, len(train)),  # the cosine schedule sets the end
        ],
        verbose=2,
    )
    seconds = time.perf_counter() - start
    # A fresh copy without optimizer state: a third of the file size.
    shipped = build_model(config.model, dataset.info.image_shape, 10, config.seed)
    shipped.set_weights(model.get_weights())
    out.save_model(shipped)
    evaluation, probs = evaluate_model(
        model, dataset.x_test, dataset.y_test, dataset.info.class_names
    )
    out.save_evaluation(evaluation, probs, dataset.y_test)
    out.clear_progress()
    out.write_status(
        RunState.COMPLETED,
        train_seconds=seconds,
        test_accuracy=evaluation.accuracy,
        n_train=len(train_idx),
        n_val=len(val_idx),
        ended=time.time(),
        # No path of this machine: the files are shipped to everyone.
        message="made by scripts/make_starter_model.py from the 5,000-image MNIST sample",
    )
    print(
        f"test accuracy {evaluation.accuracy_text()} after {seconds:.0f} s on "
        f"{len(train_idx)} training images; saved in {out.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
