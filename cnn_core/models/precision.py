"""Mixed precision: compute in bfloat16 while training, keep and save float32 weights.

With `FitSpec.mixed_precision` a CNN's layers are built under Keras' "mixed_bfloat16"
policy: convolutions and dense layers multiply in bfloat16 (on CPUs with AMX or
AVX-512 BF16, `cnn_core.base.cpu.has_bfloat16`, 2.7 times the images per second
of float32 here), while the weights and the optimizer stay float32. The output
layer is float32 always (`cnn.build_model`), so softmax and the loss keep their
precision. What a run saves is a float32 copy (`float32_copy`): the model file
predicts the same on any machine, bfloat16 instructions or not, and is what a
bundle's model check expects. Keras is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cnn_core.base.tf_runtime import import_keras

MIXED_POLICY = "mixed_bfloat16"
FLOAT_POLICY = "float32"


@contextmanager
def precision_scope(mixed: bool) -> Iterator[None]:
    """Layers built inside use the mixed policy when `mixed`; the global policy is put
    back afterwards (layers keep the policy they were built with)."""
    if not mixed:
        yield
        return
    keras = import_keras()
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(MIXED_POLICY)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def is_mixed(model: Any) -> bool:
    """Whether any layer of `model` computes in another dtype than float32."""
    return any(layer.dtype_policy.name != FLOAT_POLICY for layer in model.layers)


def _float32_config(item: Any) -> Any:
    """A Keras config with every mixed dtype policy replaced by float32."""
    if isinstance(item, dict):
        if item.get("class_name") == "DTypePolicy" and isinstance(item.get("config"), dict):
            return {**item, "config": {**item["config"], "name": FLOAT_POLICY}}
        return {key: _float32_config(value) for key, value in item.items()}
    if isinstance(item, list):
        return [_float32_config(value) for value in item]
    return item


def float32_copy(model: Any) -> Any:
    """`model` itself when it computes in float32; else the same network and weights
    with every layer in float32 (a mixed model's weights are float32 already)."""
    if not is_mixed(model):
        return model
    keras = import_keras()
    copy = keras.Model.from_config(_float32_config(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy
