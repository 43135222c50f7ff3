"""Make the starter MNIST model that ships in `cnn_core/starter/mnist-starter/`.

    python scripts/make_starter_model.py [--epochs 30] [--out cnn_core/starter/mnist-starter]

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

from cnn_core import runs  # noqa: E402
from cnn_core.config import PRESETS, STARTER_PRESET, TrainConfig  # noqa: E402
from cnn_core.data import load_dataset, split_indices  # noqa: E402
from cnn_core.models import build_model  # noqa: E402
from cnn_core.tf_runtime import import_keras  # noqa: E402
from cnn_core.train import make_recorder, save_model, store_evaluation  # noqa: E402

STARTER_SPEC = PRESETS[STARTER_PRESET]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default=str(runs.STARTER_ROOT / "mnist-starter"))
    args = parser.parse_args()
    shared = REPO.parent / "shared" / "data"
    if "CNN_DATA_DIR" not in os.environ and shared.is_dir():
        os.environ["CNN_DATA_DIR"] = str(shared)

    config = TrainConfig(
        dataset="mnist",
        model=STARTER_SPEC,
        validation=500,
        batch_size=64,
        epochs=args.epochs,
        early_stopping=False,
        seed=2026,
        name="Starter MNIST CNN",
    )
    dataset = load_dataset("mnist")
    train_idx, val_idx = split_indices(dataset.y_train, 500, config.seed)
    keras = import_keras()
    import tensorflow as tf

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    runs.atomic_write_json(out / "config.json", {"config": config.to_dict()})
    runs.write_status(out, "running", created=time.time(), pid=None)

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
        .batch(config.batch_size)
        .map(lambda x, y: (augment(x, training=True), y))
        .prefetch(2)
    )
    x_val = dataset.x_train[val_idx].astype("float32")
    model = build_model(config.model, dataset.info.image_shape, 10, config.seed)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, args.epochs * len(train))
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
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
    save_model(shipped, out)
    evaluation = store_evaluation(model, dataset, out)
    (out / "progress.json").unlink(missing_ok=True)
    runs.write_status(
        out,
        "completed",
        train_seconds=seconds,
        test_accuracy=evaluation["accuracy"],
        n_train=len(train_idx),
        n_val=len(val_idx),
        ended=time.time(),
        message=f"made by scripts/make_starter_model.py from {dataset.source}",
    )
    print(
        f"test accuracy {evaluation['accuracy']:.4f} ({evaluation['correct']} / {evaluation['n']})"
        f" after {seconds:.0f} s on {len(train_idx)} training images; saved in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
