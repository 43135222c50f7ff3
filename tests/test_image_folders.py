"""The user's own images: checking, storing, listing, streaming, training, predicting."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_core.base.errors import UserError
from cnn_core.data.archives import Limits
from cnn_core.data.registry import all_datasets, dataset_info, load_dataset, split_indices
from cnn_core.data.user import importer, places, store
from cnn_core.data.user.manifest import manifest_path, read_manifest
from cnn_core.data.user.names import LABEL_DISPLAY, display_labels, slugify
from cnn_core.data.user.options import ImageOptions
from cnn_core.data.user.stream import stream
from cnn_core.insight.predict import prepare_uploads
from cnn_core.models.evaluate import predictions_csv
from cnn_core.schema.config import PRESETS as MODEL_PRESETS
from cnn_core.schema.config import FitSpec, TrainConfig
from cnn_core.store.folder import create_run
from tests.image_folder_support import folder_entries, own_data_dir, shapes_folder, zip_bytes

SMALL = ImageOptions(side=32, validation=0.2)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return own_data_dir(tmp_path, monkeypatch)


def nothing_left(data: Path) -> bool:
    root = data / places.ROOT_NAME
    return not root.exists() or not any(p.name.startswith(".") for p in root.iterdir())


def test_a_server_folder_is_checked_stored_and_listed_like_a_built_in_dataset(data: Path) -> None:
    root = shapes_folder(data, per_class=12)
    cls = root / "train" / "circle"
    (cls / "notes.txt").write_text("not an image")
    (cls / ".DS_Store").write_bytes(b"junk")
    (cls / "cut.png").write_bytes((cls / "circle_00000.png").read_bytes()[:120])  # truncated
    shutil.copy(cls / "circle_00002.png", cls / "zz again.png")
    Image.new("CMYK", (30, 20), (0, 255, 0, 0)).save(cls / "cmyk.jpg")
    key = importer.import_server_folder("Shapes one", "shapes", SMALL)

    assert key == "my-shapes-one" and key in all_datasets()
    info = dataset_info(key)
    assert info.class_names == ("circle", "square", "triangle")
    assert info.image_shape == (32, 32, 3)
    report = read_manifest(key).report
    reasons = dict(report.skipped)
    assert "not an image" in reasons["train/circle/notes.txt"]
    assert "junk" in reasons["train/circle/.DS_Store"]
    assert "truncated or corrupt" in reasons["train/circle/cut.png"]
    assert reasons["train/circle/zz again.png"] == "duplicate of train/circle/circle_00002.png"
    assert report.train_counts == (13, 12, 12)  # the CMYK file counts for circle
    assert report.sizes.converted_modes == {"CMYK": 1}
    assert report.sizes.width == (24, 24, 30)

    dataset = load_dataset(key)
    # No labelled test folder: a stratified share of 20% is held out as the test set.
    assert len(dataset.y_test) == round(37 * 0.2) and set(dataset.y_test) == {0, 1, 2}
    assert len(dataset.y_train) + len(dataset.y_test) == 37
    picked = dataset.x_train[[0, 3]]
    assert picked.shape == (2, 32, 32, 3) and picked.dtype == np.uint8
    assert np.array_equal(dataset.x_train[3], picked[1])
    assert nothing_left(data)


def test_pixels_match_the_upload_recipe(data: Path) -> None:
    root = shapes_folder(data, per_class=6)
    importer.import_server_folder(
        "grey", str(root), ImageOptions(side=32, colour="grey", validation=0.5)
    )
    dataset = load_dataset("my-grey")
    path = root / "train" / "circle" / "circle_00000.png"
    image = Image.open(path).convert("L").resize((32, 32), Image.Resampling.BILINEAR)
    assert dataset.x_train.shape[1:] == (32, 32, 1)
    index = [i for i in range(len(dataset.y_train)) if dataset.y_train[i] == 0]
    stored = np.stack(
        [dataset.x_train[i][..., 0] for i in index]
        + [dataset.x_test[i][..., 0] for i in range(len(dataset.y_test)) if dataset.y_test[i] == 0]
    )
    assert any(np.array_equal(s, np.asarray(image)) for s in stored)


def test_pad_keeps_the_aspect_with_black_bars(data: Path) -> None:
    for cls in ("wide", "tall"):
        folder = data / "bars" / cls
        folder.mkdir(parents=True)
        for i in range(6):
            size = (64, 16) if cls == "wide" else (16, 64)
            Image.new("RGB", size, (255, 255, 255 - i)).save(folder / f"{i}.png")
    importer.import_server_folder("bars", "bars", ImageOptions(side=32, fit="pad", validation=0.4))
    dataset = load_dataset("my-bars")
    wide = dataset.x_train[
        int(np.flatnonzero(dataset.y_train == 1)[0])
    ]  # classes sorted: tall, wide
    assert wide[0].max() == 0 and wide[16].min() == 255  # black above, white in the middle
    # An upload for a model of this dataset is prepared the way the images were stored.
    assert store.pads_images("my-bars") and not store.pads_images("mnist")
    upload = io.BytesIO()
    Image.new("RGB", (64, 16), (255, 255, 255)).save(upload, format="PNG")
    prepared = prepare_uploads([("wide.png", upload.getvalue())], (32, 32, 3), False, pad=True)
    np.testing.assert_array_equal(prepared.inputs[0], wide.astype(np.float32))
    stretched = prepare_uploads([("wide.png", upload.getvalue())], (32, 32, 3), False)
    assert stretched.inputs[0].min() == 255  # without padding the bars would vanish


def test_a_labelled_test_folder_and_an_unlabeled_one(data: Path) -> None:
    root = shapes_folder(data, per_class=10)
    shapes_folder(data / "t", per_class=3, seed=5)
    shutil.copytree(data / "t" / "shapes" / "train", root / "test")
    importer.import_server_folder("with test", "shapes", SMALL)
    dataset = load_dataset("my-with-test")
    assert len(dataset.y_train) == 30 and len(dataset.y_test) == 9
    shutil.rmtree(root / "test")
    (root / "test").mkdir()
    for i, path in enumerate(sorted((data / "t" / "shapes" / "train").rglob("*.png"))):
        shutil.copy(path, root / "test" / f"pic {i}.png")
    importer.import_server_folder("unlabeled", "shapes", SMALL)
    names, images = store.unlabeled_images("my-unlabeled")
    assert names == [f"test/pic {i}.png" for i in range(len(names))] and len(names) == 6
    assert images is not None and images.shape == (6, 32, 32, 3)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda r: (
                shutil.rmtree(r / "train" / "square") or shutil.rmtree(r / "train" / "triangle")
            ),
            "at least 2 class folders",
        ),
        (lambda r: [p.unlink() for p in (r / "train" / "square").iterdir()], "no usable images"),
        (
            lambda r: [p.write_bytes(b"junk") for p in (r / "train" / "square").iterdir()],
            "no usable images",
        ),
        (
            lambda r: [p.unlink() for p in sorted((r / "train" / "square").iterdir())[3:]],
            "at least 10",
        ),
        (lambda r: (r / "train" / "circle").rename(r / "train" / "Square"), "differ only in case"),
    ],
    ids=["one class", "empty class", "only bad files", "too few", "case clash"],
)
def test_bad_datasets_are_refused_before_anything_is_saved(data: Path, make, words: str) -> None:
    root = shapes_folder(data, per_class=12)
    make(root)
    with pytest.raises(UserError, match=words):
        importer.import_server_folder("bad", "shapes", SMALL)
    assert "my-bad" not in all_datasets() and nothing_left(data)


def test_unicode_normalisation_clash_and_odd_names(data: Path) -> None:
    root = data / "odd"
    for name in ("cafe\u0301", "caf\u00e9"):
        (root / name).mkdir(parents=True)
    with pytest.raises(UserError, match="Unicode form"):
        importer.import_server_folder("odd", "odd", SMALL)
    long = "a very long class name " * 4
    labels = display_labels(["x\u200b\ty", long, long + "2"])
    assert labels[0] == "x\u200b\\ty" or "\\t" in labels[0]
    assert len(labels[1]) <= LABEL_DISPLAY and labels[1] != labels[2]


def test_odd_class_names_stay_labels(data: Path) -> None:
    root = shapes_folder(data, per_class=10)
    (root / "train" / "circle").rename(root / "train" / "<b>round<i> & co")
    (root / "train" / "square").rename(root / "train" / ("s" * 80))
    key = importer.import_server_folder("odd names", "shapes", SMALL)
    names = dataset_info(key).class_names
    assert names[0] == "<b>round<i> & co" and len(names[1]) == LABEL_DISPLAY
    assert read_manifest(key).classes[1] == "s" * 80


@pytest.mark.parametrize("path", ["/etc", "..", "../..", "/"])
def test_a_server_path_outside_the_data_directory_is_refused(data: Path, path: str) -> None:
    with pytest.raises(UserError, match="inside the data directory"):
        importer.import_server_folder("x", path, SMALL)


def test_a_symlink_out_of_the_data_directory_is_refused(data: Path, tmp_path: Path) -> None:
    outside = shapes_folder(tmp_path / "elsewhere", per_class=10)
    (data / "link").symlink_to(outside)
    with pytest.raises(UserError, match="inside the data directory"):
        importer.import_server_folder("x", "link", SMALL)


def test_a_zip_and_a_folder_upload_are_imported_and_a_taken_name_refused(
    data: Path, tmp_path: Path
) -> None:
    root = shapes_folder(tmp_path, per_class=10)
    entries = folder_entries(root) + [("__MACOSX/shapes/._x", b"junk")]
    key = importer.import_zip("zipped", io.BytesIO(zip_bytes(entries)), SMALL)
    assert load_dataset(key).info.n_train + load_dataset(key).info.n_test == 30
    assert (data / "my_images" / "zipped" / "files" / "shapes" / "train").is_dir()
    upload = [(name, io.BytesIO(body)) for name, body in folder_entries(root)]
    assert importer.import_files("folder", upload, SMALL) == "my-folder"
    with pytest.raises(UserError, match="exists already"):
        importer.import_zip("Zipped", io.BytesIO(zip_bytes(entries)), SMALL)
    assert nothing_left(data)


def test_a_hostile_zip_leaves_nothing_behind(data: Path) -> None:
    bomb = zip_bytes([("shapes/train/a/x.png", b"\0" * (8 * 2**20))])
    with pytest.raises(UserError, match="zip bomb"):
        importer.import_zip("bomb", io.BytesIO(bomb), SMALL, Limits(entry_bytes=2**20))
    evil = zip_bytes([("shapes/train/a/x.png", b"x"), ("../../evil.png", b"x")])
    with pytest.raises(UserError, match="outside"):
        importer.import_zip("evil", io.BytesIO(evil), SMALL)
    assert nothing_left(data) and not (data.parent / "evil.png").exists()


def test_bad_options_and_names_are_refused(data: Path) -> None:
    with pytest.raises(UserError, match="image size"):
        ImageOptions(side=28).check()
    with pytest.raises(UserError, match="validation share"):
        ImageOptions(validation=0.9).check()
    with pytest.raises(UserError, match="letter or digit"):
        slugify("…")


def test_stream_yields_every_training_image_once_per_epoch(data: Path) -> None:
    shapes_folder(data, per_class=10)
    dataset = load_dataset(importer.import_server_folder("s", "shapes", SMALL))
    labels = dataset.y_train
    seen = []
    for x, y in stream(dataset.x_train, labels, 7, shuffle=True, seed=3):
        assert x.dtype.name == "uint8" and x.shape[1:] == (32, 32, 3)
        seen += np.asarray(y).tolist()
    assert sorted(seen) == sorted(labels.tolist()) and seen != labels.tolist()


@pytest.mark.slow
def test_a_small_cnn_learns_the_shapes_through_this_pipeline(data: Path) -> None:
    """Three classes of coloured shapes, 300 PNG and JPEG files, streamed from disk."""
    from cnn_core.models.cnn import load_trained_model
    from cnn_core.models.evaluate import predict_in_batches
    from cnn_core.training.loop import train_run

    root = shapes_folder(data, per_class=100, size=48)
    (root / "test").mkdir()
    for path in sorted((root / "train" / "circle").iterdir())[:4]:
        shutil.copy(path, root / "test" / f"new {path.name}")
        path.unlink()
    key = importer.import_server_folder("shapes", "shapes", ImageOptions(side=32, validation=0.16))
    config = TrainConfig(
        dataset=key,
        model=MODEL_PRESETS["Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128"],
        fit=FitSpec(batch_size=32, epochs=8, patience=3),
        validation=0.16,
    )
    folder = create_run(config)
    train_run(folder)
    history = folder.read_history()
    assert max(r.val_accuracy for r in history) > 0.9
    assert folder.read_evaluation().accuracy > 0.9  # the held-out test share

    names, images = store.unlabeled_images(key)
    model = load_trained_model(folder.model_path)
    probs = predict_in_batches(model, images)
    rows = list(
        csv.DictReader(
            io.StringIO(
                predictions_csv(
                    probs, None, ["circle", "square", "triangle"], ids=names, id_column="file"
                )
            )
        )
    )
    assert [r["file"] for r in rows] == names and len(rows) == 4
    assert sum(r["predicted_class"] == "circle" for r in rows) >= 3


def test_the_split_of_an_imported_dataset_is_stratified_and_seeded(data: Path) -> None:
    shapes_folder(data, per_class=20)
    dataset = load_dataset(importer.import_server_folder("split", "shapes", SMALL))
    train_a, val_a = split_indices(dataset.y_train, 12, seed=7)
    train_b, val_b = split_indices(dataset.y_train, 12, seed=7)
    assert np.array_equal(val_a, val_b) and np.array_equal(train_a, train_b)
    assert np.bincount(dataset.y_train[val_a]).tolist() == [4, 4, 4]


def test_a_deleted_dataset_is_gone_at_once_and_a_bad_key_deletes_nothing(data: Path) -> None:
    shapes_folder(data, per_class=10)
    keep = importer.import_server_folder("keep", "shapes", SMALL)
    key = importer.import_server_folder("drop", "shapes", SMALL)
    images = load_dataset(key).x_train
    store.delete_dataset(key)
    assert key not in all_datasets() and keep in all_datasets()
    assert sorted(p.name for p in (data / places.ROOT_NAME).iterdir()) == ["keep"]
    with pytest.raises(UserError, match="not in"):
        dataset_info(key)
    with pytest.raises(UserError, match="images of this dataset are gone"):
        images[0]  # a dataset still held in memory (a page's cache) says so when read
    with pytest.raises(UserError, match="no dataset 'my-drop' in this workspace"):
        store.delete_dataset(key)  # deleted already (another tab)
    for bad in ("my-../keep", "my-", "mnist", "my-Keep", "my-keep/.."):
        with pytest.raises(UserError, match="unknown dataset"):
            store.delete_dataset(bad)
    assert keep in all_datasets() and (data / "shapes").is_dir()


def test_the_manifest_reads_typed_and_is_stored_as_before(data: Path) -> None:
    shapes_folder(data, per_class=10)
    key = importer.import_server_folder("typed", "shapes", SMALL)
    path = manifest_path(key)
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert set(stored) == {
        *("format", "name", "options", "classes", "splits", "holdout", "report"),
        *("key", "source", "created"),
    }
    manifest = read_manifest(key)
    assert json.loads(json.dumps(manifest.to_json())) == stored  # the format is unchanged
    assert manifest.classes == ("circle", "square", "triangle") and manifest.test is None
    assert manifest.held_out and manifest.n_test == len(manifest.holdout) == 6
    assert manifest.n_train == 24 and manifest.n_unlabeled == 0
    assert manifest.options == SMALL and manifest.image_shape == (32, 32, 3)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda m: m["splits"]["train"]["labels"].append(0), "damaged manifest"),
        (lambda m: m["splits"]["train"]["labels"].__setitem__(0, 7), "damaged manifest"),
        (lambda m: m["holdout"].append(10**6), "damaged manifest"),
        (lambda m: m.pop("report"), "damaged manifest"),
        (lambda m: m["options"].update(side=28), "damaged manifest"),
        (lambda m: m.update(format=2), "format this version cannot read"),
    ],
    ids=["label count", "no such class", "holdout row", "no report", "bad side", "format"],
)
def test_a_damaged_manifest_is_refused_and_left_out_of_the_lists(
    data: Path, damage, words: str
) -> None:
    shapes_folder(data, per_class=10)
    key = importer.import_server_folder("damaged", "shapes", SMALL)
    stored = json.loads(manifest_path(key).read_text(encoding="utf-8"))
    damage(stored)
    manifest_path(key).write_text(json.dumps(stored), encoding="utf-8")
    with pytest.raises(UserError, match=words):
        read_manifest(key)
    assert key not in all_datasets()
