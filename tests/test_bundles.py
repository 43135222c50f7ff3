"""Run bundles: export then import gives the same run under a new id; every crafted
hostile or broken bundle is refused with a clear message and leaves nothing behind."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.data.registry import load_dataset
from cnn_core.schema.records import SCHEMA_VERSION, RunNotes, RunState
from cnn_core.sharing import bundles, config_files, model_check
from cnn_core.store import access
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import load_run
from tests.run_factory import tiny_trained_run

MODEL = bundles.ENTRY["model"]
CONFIG = bundles.ENTRY["config"]
STATUS = bundles.ENTRY["status"]


@pytest.fixture(scope="module")
def source_run(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> RunFolder:
    """A complete run: config, status, 2 epochs, evaluation, predictions, model, notes."""
    root = tmp_path_factory.mktemp("source")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_DATA_DIR", str(synthetic_data_dir))
        dataset = load_dataset("mnist")
    folder = RunFolder(tiny_trained_run(dataset, root=root, epochs=2, name="src"))
    folder.write_notes(RunNotes.create(["baseline", "Small"], "first try"))
    return folder


@pytest.fixture(scope="module")
def bundle(source_run: RunFolder) -> bytes:
    return bundles.export_bundle(source_run)


def entries_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rebuild(data: bytes, change: Callable[[dict[str, bytes]], None] | None = None) -> bytes:
    """The bundle with its entries changed by `change` (a dict of name -> bytes)."""
    entries = entries_of(data)
    if change:
        change(entries)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


def with_entry(data: bytes, info: zipfile.ZipInfo, content: bytes) -> bytes:
    out = io.BytesIO(rebuild(data))
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr(info, content)
    return out.getvalue()


def snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def store(isolated_store: Path, source_run: RunFolder) -> Path:
    """The test's run store, holding one unrelated run already."""
    tiny_trained_run(load_dataset("mnist"), root=isolated_store, epochs=0, evaluate=False)
    return isolated_store


def refused(store: Path, data: bytes, match: str, **limits: int) -> None:
    """Import must raise UserError matching `match` and leave the store as it was."""
    before = snapshot(store)
    with pytest.raises(UserError, match=match):
        bundles.import_bundle(data, store, bundles.BundleLimits(**limits))
    assert snapshot(store) == before


def test_round_trip_gives_an_equal_run_with_a_new_id(
    store: Path, source_run: RunFolder, bundle: bytes
) -> None:
    folder = bundles.import_bundle(bundle, store)
    assert folder.run_id != source_run.run_id and folder.path.parent == store
    assert folder.read_config() == source_run.read_config()
    assert folder.read_status() == source_run.read_status()
    assert folder.read_history() == source_run.read_history() and len(folder.read_history()) == 2
    assert folder.read_evaluation() == source_run.read_evaluation()
    for mine, theirs in zip(folder.read_predictions(), source_run.read_predictions(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert folder.model_path.read_bytes() == source_run.model_path.read_bytes()
    notes = folder.read_notes()
    assert notes.tags == ("baseline", "small") and notes.text == "first try"
    assert notes.imported_from == source_run.run_id
    imported = load_run(folder.path)
    assert imported.state == RunState.COMPLETED and imported.test_accuracy is not None
    assert [p.name for p in store.iterdir() if p.name.startswith(".")] == []  # no staging left
    again = bundles.import_bundle(bundle, store)  # the same bundle twice: two runs
    assert again.run_id not in (folder.run_id, source_run.run_id)


def test_export_refuses_a_run_that_is_still_training(isolated_store: Path) -> None:
    folder = RunFolder(tiny_trained_run(load_dataset("mnist"), epochs=0, evaluate=False))
    folder.write_status(RunState.RUNNING, pid=__import__("os").getpid())
    with pytest.raises(UserError, match="still training"):
        bundles.export_bundle(folder)


def test_not_a_zip(store: Path) -> None:
    refused(store, b"just some text", "not a zip")


def test_missing_model(store: Path, bundle: bytes) -> None:
    refused(store, rebuild(bundle, lambda e: e.pop(MODEL)), "lacks model.keras")


def test_parent_path(store: Path, bundle: bytes) -> None:
    refused(store, with_entry(bundle, zipfile.ZipInfo("../evil.json"), b"{}"), "leaves its folder")


def test_absolute_path(store: Path, bundle: bytes) -> None:
    refused(store, with_entry(bundle, zipfile.ZipInfo("/tmp/evil.json"), b"{}"), "absolute")


def test_symlink(store: Path, bundle: bytes) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    refused(store, with_entry(bundle, info, b"/etc/passwd"), "symbolic link")


def test_folder_inside(store: Path, bundle: bytes) -> None:
    refused(store, with_entry(bundle, zipfile.ZipInfo("sub/notes.json"), b"{}"), "folder")


def test_nested_archive(store: Path, bundle: bytes) -> None:
    refused(store, with_entry(bundle, zipfile.ZipInfo("more.zip"), bundle), "another archive")


def test_record_that_is_an_archive(store: Path, bundle: bytes) -> None:
    def nest(entries: dict[str, bytes]) -> None:
        entries[bundles.ENTRY["notes"]] = bundle

    refused(store, rebuild(bundle, nest), "archive, not a record")


def test_unexpected_file(store: Path, bundle: bytes) -> None:
    refused(store, with_entry(bundle, zipfile.ZipInfo("run.py"), b"print(1)"), "unexpected")


def test_h5_model_entry(store: Path, bundle: bytes) -> None:
    data = with_entry(bundle, zipfile.ZipInfo("model.h5"), model_check.HDF5_MAGIC + b"\0" * 64)
    refused(store, data, "only .keras models")


def test_h5_content_named_keras(store: Path, bundle: bytes) -> None:
    def h5(entries: dict[str, bytes]) -> None:
        entries[MODEL] = model_check.HDF5_MAGIC + b"\0" * 64

    refused(store, rebuild(bundle, h5), "HDF5 model")


def test_entry_over_its_cap(store: Path, bundle: bytes) -> None:
    def big_notes(entries: dict[str, bytes]) -> None:
        entries[bundles.ENTRY["notes"]] = b" " * 3000 + b"{}"

    refused(store, rebuild(bundle, big_notes), "notes.json is larger than", record=2000)


def test_total_over_the_cap(store: Path, bundle: bytes) -> None:
    refused(store, bundle, "the bundle is larger than", total=len(bundle) // 2)


def test_small_zip_that_unpacks_over_the_cap(store: Path, bundle: bytes) -> None:
    """A zip bomb in miniature: 200 kB of spaces compress to a few hundred bytes."""
    entries = entries_of(bundle)
    entries[bundles.ENTRY["notes"]] = b"{" + b" " * 200_000 + b"}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    data = out.getvalue()
    unpacked = sum(len(v) for v in entries.values())
    assert len(data) < unpacked - 150_000
    refused(store, data, "unpacks to more than", total=unpacked - 100_000)


def test_header_that_understates_a_size(store: Path, bundle: bytes) -> None:
    """A central directory that claims 10 bytes for a 5 kB entry: refused, not trusted."""
    big = b"{" + b" " * 5000 + b"}"
    data = rebuild(bundle, lambda e: e.update({bundles.ENTRY["notes"]: big}))
    name = bundles.ENTRY["notes"].encode()
    record = data.rfind(b"PK\x01\x02", 0, data.rfind(name))  # its central directory record
    patched = bytearray(data)
    patched[record + 24 : record + 28] = (10).to_bytes(4, "little")  # uncompressed size
    assert zipfile.ZipFile(io.BytesIO(bytes(patched))).getinfo(name.decode()).file_size == 10
    refused(store, bytes(patched), "damaged", record=2000)


def test_newer_schema_version(store: Path, bundle: bytes) -> None:
    def newer(entries: dict[str, bytes]) -> None:
        manifest = json.loads(entries[bundles.MANIFEST])
        manifest["schema_version"] = SCHEMA_VERSION + 1
        entries[bundles.MANIFEST] = json.dumps(manifest).encode()

    refused(store, rebuild(bundle, newer), "newer CNN Studio")


def test_newer_config_record(store: Path, bundle: bytes) -> None:
    def newer(entries: dict[str, bytes]) -> None:
        record = json.loads(entries[CONFIG])
        record["schema_version"] = SCHEMA_VERSION + 5
        entries[CONFIG] = json.dumps(record).encode()

    refused(store, rebuild(bundle, newer), "newer CNN Studio")


def test_run_still_training(store: Path, bundle: bytes) -> None:
    def running(entries: dict[str, bytes]) -> None:
        record = json.loads(entries[STATUS])
        record["state"] = "running"
        entries[STATUS] = json.dumps(record).encode()

    refused(store, rebuild(bundle, running), "still training")


def test_predictions_that_do_not_fit(store: Path, bundle: bytes) -> None:
    def short(entries: dict[str, bytes]) -> None:
        out = io.BytesIO()
        np.savez(out, probs=np.full((3, 10), 0.1, np.float32), y_true=np.zeros(3, np.int64))
        entries[bundles.ENTRY["predictions"]] = out.getvalue()

    refused(store, rebuild(bundle, short), "predictions.npz in the bundle is damaged")


def keras_bytes(model: object, tmp_path: Path) -> bytes:
    path = tmp_path / "m.keras"
    model.save(path)
    return path.read_bytes()


def with_model(bundle: bytes, content: bytes) -> bytes:
    return rebuild(bundle, lambda e: e.update({MODEL: content}))


def small_model(middle: Callable[[object], object]) -> object:
    """Input (28, 28, 1) -> Rescaling -> middle -> Flatten -> Dense(10, softmax)."""
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    inputs = keras.Input((28, 28, 1))
    x = middle(keras.layers.Rescaling(1 / 255)(inputs))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def test_lambda_layer(store: Path, bundle: bytes, tmp_path: Path) -> None:
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()
    model = small_model(keras.layers.Lambda(lambda x: x * 2))
    refused(store, with_model(bundle, keras_bytes(model, tmp_path)), "'Lambda'")


def test_custom_layer(store: Path, bundle: bytes, tmp_path: Path) -> None:
    from cnn_core.base.tf_runtime import import_keras

    keras = import_keras()

    @keras.saving.register_keras_serializable(package="elsewhere")
    class Doubler(keras.layers.Layer):
        def call(self, x: object) -> object:
            return x * 2

    content = keras_bytes(small_model(Doubler()), tmp_path)
    refused(store, with_model(bundle, content), "'Doubler'")


def test_foreign_module(store: Path, bundle: bytes, source_run: RunFolder) -> None:
    """A .keras config edited to name a class from another module (here `os.system`)."""
    model = entries_of(source_run.model_path.read_bytes())
    (config_name,) = [n for n in model if n.endswith(".json") and b"class_name" in model[n]]
    config = json.loads(model[config_name])
    layer = config["config"]["layers"][-1]
    layer["module"], layer["class_name"] = "os", "system"
    model[config_name] = json.dumps(config).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in model.items():
            archive.writestr(name, content)
    refused(store, with_model(bundle, out.getvalue()), "'system' from 'os'")


def test_model_that_does_not_fit_the_dataset(store: Path, bundle: bytes, tmp_path: Path) -> None:
    from cnn_core.models.cnn import build_model
    from cnn_core.schema.config import PRESETS

    model = build_model(PRESETS["Softmax regression"], (32, 32, 3), 10)
    refused(store, with_model(bundle, keras_bytes(model, tmp_path)), "does not fit")


def test_damaged_model(store: Path, bundle: bytes) -> None:
    refused(store, with_model(bundle, model_check.ZIP_MAGIC + b"broken"), "damaged")


def test_failure_while_writing_leaves_nothing(
    store: Path, bundle: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundles.os, "rename", full_disk)
    before = snapshot(store)
    with pytest.raises(OSError, match="No space"):
        bundles.import_bundle(bundle, store)
    assert snapshot(store) == before


def test_config_file_text_is_what_the_headless_worker_reads(source_run: RunFolder) -> None:
    from cnn_core.training.worker import read_config_file

    config = source_run.read_config()
    path = source_run.path.parent / "exported.json"
    path.write_text(config_files.config_file_text(config))
    assert read_config_file(path) == config


def test_a_run_on_imported_images_travels_to_a_server_without_those_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.image_folder_support import own_data_dir
    from tests.journey_runs import imported_dataset

    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    own_data_dir(tmp_path / "here", monkeypatch)
    key = imported_dataset(tmp_path)
    source = RunFolder(tiny_trained_run(load_dataset(key), epochs=0, name="shapes"))
    data = bundles.export_bundle(source)
    own_data_dir(tmp_path / "elsewhere", monkeypatch)  # a server without the images
    folder = bundles.import_bundle(data, tmp_path / "store")
    run = load_run(folder.path)
    assert run.config.dataset == key
    assert run.dataset is not None and run.dataset.class_names == ("circle", "square", "triangle")
    assert run.dataset.title == "My images: Shapes" and run.dataset.image_shape == (32, 32, 3)
    # Renaming keeps what the run knows of its dataset.
    access.rename_run(folder, "renamed")
    assert load_run(folder.path).dataset == run.dataset


def test_a_bundle_whose_dataset_is_described_nowhere_is_refused(store: Path, bundle: bytes) -> None:
    def unknown(entries: dict[str, bytes]) -> None:
        record = json.loads(entries[CONFIG])
        record["config"]["dataset"] = "my-gone"
        record.pop("dataset", None)
        entries[CONFIG] = json.dumps(record).encode()

    refused(store, rebuild(bundle, unknown), "not on this server")


def test_a_bundle_with_a_malformed_dataset_description_is_refused(
    store: Path, bundle: bytes
) -> None:
    def malformed(entries: dict[str, bytes]) -> None:
        record = json.loads(entries[CONFIG])
        record["dataset"] = {"key": "mnist", "title": "x", "class_names": "0123"}
        entries[CONFIG] = json.dumps(record).encode()

    refused(store, rebuild(bundle, malformed), "dataset description is malformed")
