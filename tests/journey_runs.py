"""Every kind of run a person meets, made in the test's run store for journey tests.

`make_runs()` fills the store with one run of each kind in `KINDS`: finished
runs (`run_factory.finished_run`) hold a real (untrained, seeded) model, epochs
and a stored evaluation, so each page has everything it shows for a trained run.
No worker runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnn_core.data.user.importer import import_folder
from cnn_core.data.user.options import ImageOptions
from cnn_core.schema.config import (
    AugmentSpec,
    ConvBlock,
    DenseLayer,
    ModelSpec,
    TrainConfig,
    Vgg16Spec,
)
from cnn_core.schema.records import RunState
from cnn_core.sharing.bundles import export_bundle, import_bundle
from cnn_core.store import access
from cnn_core.store.access import delete_run
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import load_run
from tests.image_folder_support import shapes_folder
from tests.run_factory import finished_run, history, make_run

SMALL_CNN = ModelSpec(  # one small conv block and a dense layer: fast to build and run
    kind="cnn", conv_blocks=(ConvBlock(filters=8, kernel_size=3),), dense_layers=(DenseLayer(16),)
)
SOFTMAX = ModelSpec(kind="softmax")

# kind -> what a person did to get it
KINDS = {
    "cnn": "a CNN trained on a built-in dataset",
    "softmax": "the softmax baseline",
    "mirror": "a CNN predicting with test-time flips (the fast recipe on clothes)",
    "my-images": "a CNN trained on an imported image folder",
    "vgg16": "VGG16 from a local weights file",
    "bundle": "a run imported from a bundle",
    "stopped": "a run stopped partway (model kept)",
    "failed": "a run whose worker failed (no model)",
}


@dataclass(frozen=True)
class JourneyRun:
    kind: str
    run_id: str
    name: str
    has_model: bool


def imported_dataset(parent: Path, name: str = "Shapes") -> str:
    """An imported dataset of three shape classes (24 px RGB) in the current data folder."""
    root = shapes_folder(parent / name.lower(), per_class=10, size=24)
    return import_folder(name, root, ImageOptions(side=32, validation=0.2))


def vgg16_weights_file(parent: Path) -> Path:
    """A VGG16 base weights file saved from a freshly built (not pretrained) VGG16."""
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    path = parent / "my_vgg16_notop.weights.h5"
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    base.save_weights(path)
    return path


def make_runs(tmp_path: Path, kinds: tuple[str, ...] = tuple(KINDS)) -> dict[str, JourneyRun]:
    """One run of each of `kinds` in the current run store (and workspace)."""
    made: dict[str, JourneyRun] = {}

    def keep(kind: str, folder: RunFolder) -> None:
        run = load_run(folder.path)
        name = run.config.name if run.config else ""
        made[kind] = JourneyRun(kind, run.run_id, name, run.has_model)

    for kind in kinds:
        if kind == "cnn":
            keep(kind, finished_run(TrainConfig(dataset="mnist", model=SMALL_CNN, name="Digits")))
        elif kind == "softmax":
            config = TrainConfig(dataset="fashion_mnist", model=SOFTMAX, name="Baseline")
            keep(kind, finished_run(config))
        elif kind == "mirror":
            flips = AugmentSpec(flip="horizontal", mirror_average=True)
            config = TrainConfig("fashion_mnist", SMALL_CNN, augment=flips, name="Mirrored")
            keep(kind, finished_run(config))
        elif kind == "my-images":
            key = imported_dataset(tmp_path)
            keep(kind, finished_run(TrainConfig(dataset=key, model=SMALL_CNN, name="Shapes")))
        elif kind == "vgg16":
            weights = vgg16_weights_file(tmp_path)
            vgg = Vgg16Spec(weights="file", weights_file=str(weights), dense_units=16)
            spec = ModelSpec(kind="vgg16", vgg16=vgg)
            config = TrainConfig(dataset="cifar10", model=spec, name="VGG")
            keep(kind, finished_run(config, epochs=2))
        elif kind == "bundle":
            source = finished_run(TrainConfig(dataset="mnist", model=SOFTMAX, name="Exported"))
            bundle = export_bundle(source)
            delete_run(load_run(source.path))
            keep(kind, import_bundle(bundle))
        elif kind == "stopped":
            config = TrainConfig(dataset="mnist", model=SMALL_CNN, name="Stopped early")
            keep(kind, finished_run(config, RunState.STOPPED, epochs=2))
        elif kind == "failed":
            config = TrainConfig(dataset="mnist", model=SMALL_CNN, name="Broke")
            message = "the worker ran out of memory"
            keep(kind, make_run(config, state=RunState.FAILED, epochs=history(1), message=message))
        else:
            raise ValueError(f"unknown kind of run: {kind!r}")
    return made


def public_run_of_another_workspace(tmp_path: Path, owner: str) -> JourneyRun:
    """A public run in workspace `owner`, trained on `owner`'s own imported images.

    Needs private workspaces on and the resolver answering `owner` while it runs.
    """
    key = imported_dataset(tmp_path / owner, name="Private shapes")
    folder = finished_run(TrainConfig(dataset=key, model=SMALL_CNN, name="Shared shapes"))
    access.set_public(folder, True)
    return JourneyRun("public", folder.run_id, "Shared shapes", True)
