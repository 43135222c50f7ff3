"""A bundle's model check accepts every model CNN Studio builds, as training leaves it.

`sharing.model_check` refuses any object outside its list (`test_bundles.py` shows the
refusals); here the other side: each kind of network the Train page can build (every
augmentation layer, batch norm, VGG16 with either head), saved after a compiled fit
step (so its compile settings, label smoothing's loss included, are in the file),
passes the check. A model the check refused could not travel in a bundle.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.data.registry import dataset_info
from cnn_core.models.cnn import build_model
from cnn_core.schema.config import (
    PRESETS,
    STARTER_PRESET,
    AugmentSpec,
    FitSpec,
    ModelSpec,
    OptimizerSpec,
    TrainConfig,
    Vgg16Spec,
)
from cnn_core.sharing.model_check import check_model
from cnn_core.training.loop import compile_for_run

EVERY_AUGMENTATION = AugmentSpec(
    flip="horizontal", rotation=0.1, zoom=0.1, translation=0.1, contrast=0.1
)
MODELS = {
    "batch-norm CNN, every augmentation": PRESETS[STARTER_PRESET],
    "VGG16, pooled head, fine-tuned": ModelSpec(
        kind="vgg16", vgg16=Vgg16Spec(input_size=32, weights="none", fine_tune=True)
    ),
    "VGG16, flattened head": ModelSpec(
        kind="vgg16", vgg16=Vgg16Spec(input_size=32, head="flatten", weights="none")
    ),
}


def trained_file(spec: ModelSpec, smoothing: float, tmp_path: Path) -> bytes:
    """`spec` built for MNIST with every augmentation, compiled as a run compiles it
    (cosine decay, `smoothing`), fit on one batch and saved as a run saves it."""
    config = TrainConfig(
        dataset="mnist",
        model=spec,
        optimizer=OptimizerSpec(schedule="cosine"),
        fit=FitSpec(batch_size=8, epochs=1, label_smoothing=smoothing),
        augment=EVERY_AUGMENTATION,
    )
    model = build_model(spec, (28, 28, 1), 10, seed=0, augment=config.augment)
    compile_for_run(model, config, batches=1)
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")
    model.fit(images, np.arange(8) % 10, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_the_studio_trains_passes(name: str, smoothing: float, tmp_path: Path) -> None:
    content = trained_file(MODELS[name], smoothing, tmp_path)
    check_model(content, "model.keras", dataset_info("mnist"))  # raises when refused


def test_a_foreign_loss_function_is_still_refused(tmp_path: Path) -> None:
    """Only label smoothing's own loss is let through by name, not any function."""
    content = trained_file(PRESETS[STARTER_PRESET], 0.1, tmp_path)
    entries = {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    assert b'"smoothed_crossentropy"' in entries["config.json"]
    entries["config.json"] = entries["config.json"].replace(b"smoothed_crossentropy", b"system")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    forged = out.getvalue()
    with pytest.raises(UserError, match="'function' from 'builtins'"):
        check_model(forged, "model.keras", dataset_info("mnist"))
