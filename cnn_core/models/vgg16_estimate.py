"""How long a VGG16 run will take on this machine, estimated before launch.

From FLOP counts of the layer plan (`plan.describe_vgg16`) and throughputs
calibrated on the project's 2-core CPU, so the Train page can say "about
3 minutes per epoch" and whether the frozen-feature cache pays off.
"""

from __future__ import annotations

from cnn_core.models.patch_conv import MAX_PATCH_AREA
from cnn_core.models.plan import LayerRow, describe_vgg16
from cnn_core.models.vgg16 import PHASE_FINE_TUNE, PHASE_HEAD, uses_feature_cache
from cnn_core.schema.config import TrainConfig

# Calibrated on the 2-core machine of benchmarks/bench_vgg16_cache.py (quiet,
# 2026-12-01): the FLOPs per second VGG16's convolutions reach (150 images/s
# at 32 px in inference, a little slower inside a training step), and what
# block5's training step costs against its forward pass: about 4x when its
# small maps (up to 6x6, i.e. inputs up to 96 px) train as patches
# (`cnn_core.models.patch_conv`), 6x and more with the library's convolutions, whose
# weight gradient is inefficient on small maps; and the fixed cost of one
# training step (Python and graph overhead).
CONV_FLOPS_PER_S = 80e9
# Block5's forward + backward pass in block5 forward passes, {as patches: factor}.
BLOCK5_TRAIN_FACTOR = {True: 4.0, False: 6.0}
STEP_OVERHEAD_S = 0.004


def _conv_flops(rows: list[LayerRow], start: str | None = None) -> float:
    """Forward FLOPs (2 x multiply-adds) per image of the conv layers after `start`."""
    flops, counting, channels = 0.0, start is None, 3
    for row in rows:
        if row.kind == "Conv2D":
            h, w, filters = row.output_shape
            if counting:
                flops += 2.0 * h * w * 9 * channels * filters
            channels = filters
        if row.name == start:
            counting = True
    return flops


def estimate_seconds(
    config: TrainConfig,
    input_shape: tuple[int, int, int],
    num_classes: int,
    n_images: int,
    n_test: int = 0,
) -> dict[str, float]:
    """Estimated seconds on this machine, before launch.

    Args:
        n_images: the images one epoch reads (training plus validation).
        n_test: the test images; with the cache their features are computed once
            too (the run is evaluated on them), so they count in "features".

    Returns:
        {"features": the one-off feature extraction of all n_images + n_test images
         (0 without the cache), "head": one head-phase epoch, "fine-tune": one
         fine-tuning epoch (when planned)}.
    """
    vgg = config.model.vgg16
    rows = describe_vgg16(config.model, input_shape, num_classes)
    full = _conv_flops(rows)
    block5 = _conv_flops(rows, "block4_pool")
    steps = -(-n_images // config.fit.batch_size) * STEP_OVERHEAD_S
    cached = uses_feature_cache(config)
    extracted = n_images + n_test  # every split's features: train, validation, test
    estimate = {"features": extracted * full / CONV_FLOPS_PER_S if cached else 0.0}
    # Training: the frozen convs' forward pass unless cached, block5's training step.
    frozen = 0.0 if cached else full
    estimate[PHASE_HEAD] = steps + n_images * frozen / CONV_FLOPS_PER_S
    if vgg.fine_tune:
        frozen = 0.0 if cached else full - block5
        patches = (vgg.input_size // 16) ** 2 <= MAX_PATCH_AREA  # block5's map
        flops = frozen + BLOCK5_TRAIN_FACTOR[patches] * block5
        estimate[PHASE_FINE_TUNE] = steps + n_images * flops / CONV_FLOPS_PER_S
    return estimate
