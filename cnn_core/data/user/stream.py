"""Training batches streamed from a `PixelStore` through ``tf.data``."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn_core.base.tf_runtime import import_keras
from cnn_core.data.user.pixels import PixelStore


def stream(
    images: PixelStore, labels: np.ndarray, batch_size: int, *, shuffle: bool, seed: int = 0
) -> Any:
    """A `tf.data.Dataset` of (uint8 (b, h, w, c) images, int64 (b,) labels) batches.

    Index batches are shuffled (each epoch anew, seeded) in TensorFlow; the pixel rows
    of each batch are read from disk in parallel calls and prefetched, so memory holds
    a few batches, never the whole set.
    """
    import_keras()
    import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images for {len(labels)} labels")

    def read(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return images.read(batch), labels[batch]

    order = tf.data.Dataset.range(len(labels))
    if shuffle:
        order = order.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)

    def load(batch: Any) -> tuple[Any, Any]:
        x, y = tf.numpy_function(read, [batch], (tf.uint8, tf.int64))
        x.set_shape((None, *images.image_shape))
        y.set_shape((None,))
        return x, y

    return (order.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE)).prefetch(
        tf.data.AUTOTUNE
    )
