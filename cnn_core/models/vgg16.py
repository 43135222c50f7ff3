"""Pretrained VGG16's settings: modes, phases, labels and the plan of a run.

The pure-Python facts every stage needs about a "vgg16" model (no TensorFlow):
its convolutional blocks, its two training phases ("head" trains the head on
the frozen base; "fine-tune" also unfreezes block5), the ModelSpec of each mode,
its label, and whether a run trains on cached frozen-base features. The rest of
VGG16 transfer lives beside it: `plan` (layer table), `vgg16_build` (the Keras
model and its phases), `vgg16_weights` (where the weights come from) and
`vgg16_estimate` (time estimates).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnn_core.schema.config import ModelSpec, TrainConfig, Vgg16Spec

# VGG16's convolutional base: filters of each 3x3 conv, block by block; a 2x2
# max-pool ends every block.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
FINE_TUNE_BLOCK = "block5"  # unfrozen in the fine-tuning phase
PHASE_HEAD, PHASE_FINE_TUNE = "head", "fine-tune"
MODES = {"feature_extraction": "VGG16 feature extraction", "fine_tune": "VGG16 fine-tuned"}


def vgg16_spec(
    mode: str,
    input_size: int = 32,
    weights: str = "imagenet",
    weights_file: str = "",
    **settings: Any,
) -> ModelSpec:
    """The ModelSpec of "VGG16 feature extraction" or "VGG16 fine-tuned".

    Args:
        mode: "feature_extraction" (head on the frozen base) or "fine_tune"
            (then block5 unfrozen at a low learning rate).
        input_size: the side images are resized to (>= 32; 48, 64, 96... are offered).
        weights: "imagenet", "file" (with `weights_file`) or "none".
        settings: any other `Vgg16Spec` field (head, dense_units, dropout...).

    Raises:
        ValueError: an unknown mode (a programming error).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    vgg = Vgg16Spec(
        input_size=input_size,
        weights=weights,
        weights_file=weights_file,
        fine_tune=mode == "fine_tune",
        **settings,
    )
    return ModelSpec(kind="vgg16", vgg16=vgg)


def vgg16_label(vgg: Vgg16Spec) -> str:
    """'VGG16 fine-tuned, 64 px'; random weights read 'VGG16 (not pretrained) ...', weights
    from a local file 'VGG16 feature extraction, 32 px (weights: my_vgg16.h5)'."""
    name = "VGG16" if vgg.weights != "none" else "VGG16 (not pretrained)"
    mode = "fine-tuned" if vgg.fine_tune else "feature extraction"
    label = f"{name} {mode}, {vgg.input_size} px"
    if vgg.weights == "file":
        label += f" (weights: {Path(vgg.weights_file).name or '?'})"
    return label


def uses_feature_cache(config: TrainConfig) -> bool:
    """Whether a vgg16 run trains on cached frozen-base outputs (else the full network).

    Augmentation changes the frozen base's input every epoch, so its outputs
    cannot be computed once: an augmenting run trains the full network.
    """
    vgg = config.model.vgg16
    return bool(vgg and vgg.cache_features and not config.augment.active)
