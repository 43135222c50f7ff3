"""Two repairs that let Keras 3's `Model.fit` train under MultiWorkerMirroredStrategy.

Keras 3.15 (keras-team/keras#20585) fails twice when a model built in a
`tf.distribute.MultiWorkerMirroredStrategy` scope is fit, on every worker:

1. Before the first step, `TensorFlowTrainer._maybe_symbolic_build` reduces the
   first per-replica batch with `strategy.reduce("MEAN", batch, axis=None)` only
   to learn its shapes; the collective reduce cannot take the per-replica value
   ("Attempt to convert a value (PerReplica ...) to a Tensor"). A replica's own
   batch has the same shapes, so the repair builds from this worker's first one.
2. Each step's logs (loss and metric results, already summed across replicas by
   the metrics' mirrored variables, so equal on every replica) go through
   `reduce_per_replica(..., "auto")`, which in multi-worker mode calls
   `strategy.reduce("MEAN", value, axis=0)`: a scalar has no axis 0. The repair
   reduces scalars with `axis=None` (the mean of equal values is that value) and
   leaves every other value and every other strategy to Keras.

`apply()` installs both in this process (the worker process of a multi-worker
run, nothing else); `tests/test_distribute.py` trains two workers on localhost
through them and fails if Keras moves the functions they replace.
"""

from __future__ import annotations

from typing import Any

from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras

_applied = False


def _trainer_module() -> Any:
    """Keras' TensorFlow trainer module, or a UserError naming this Keras version."""
    keras = import_keras()
    try:
        # lazy: only a multi-worker run's process loads Keras' TensorFlow trainer
        from keras.src.backend.tensorflow import trainer
    except ImportError as error:
        raise _unsupported(keras.__version__) from error
    needed = ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer")
    if not all(hasattr(trainer, name) for name in needed) or not hasattr(
        trainer.TensorFlowTrainer, "_maybe_symbolic_build"
    ):
        raise _unsupported(keras.__version__)
    return trainer


def _unsupported(version: str) -> UserError:
    return UserError(
        f"this Keras ({version}) differs from the one CNN Studio's multi-worker training "
        "was built for (keras-team/keras#20585 repairs for Keras 3.15): train on one "
        "machine with --strategy mirrored, which uses all of its GPUs"
    )


def apply() -> None:
    """Install both repairs in this process (once).

    Raises:
        UserError: this Keras version lacks the functions the repairs replace.
    """
    global _applied
    if _applied:
        return
    trainer = _trainer_module()
    # lazy: only a multi-worker run's process loads TensorFlow; _trainer_module() did already
    import tensorflow as tf
    from keras.src import tree  # lazy, with TensorFlow above

    keras_reduce = trainer.reduce_per_replica
    multi_worker = trainer._collective_all_reduce_multi_worker

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not multi_worker(strategy):
            return keras_reduce(values, strategy, reduction)

        def reduce_one(value: Any) -> Any:
            local = strategy.experimental_local_results(value)[0]  # a tensor as it is
            if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return keras_reduce(value, strategy, reduction)

        return tree.map_structure(reduce_one, values)

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return  # Keras builds while tracing, as without the repair
        strategy = self.distribute_strategy
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    lambda value: (
                        strategy.experimental_local_results(value)[0]
                        if isinstance(value, tf.distribute.DistributedValues)
                        else value
                    ),
                    next(batches),
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    _applied = True
