"""AppTest of "My images": the Data page's import form and report, augmentation on Train."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.data.user.importer import import_server_folder
from cnn_core.data.user.options import ImageOptions
from cnn_core.data.user.places import ROOT_NAME
from cnn_core.data.user.store import list_user_datasets, load_user_dataset
from tests.apptest_support import assert_no_exception, open_app, texts
from tests.image_folder_support import folder_entries, own_data_dir, shapes_folder, zip_bytes

MODE = "My images: add a folder or zip"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthetic_data_dir: Path) -> Path:
    """An own data directory that also holds the synthetic built-in datasets."""
    own = own_data_dir(tmp_path, monkeypatch)
    for item in synthetic_data_dir.iterdir():
        (own / item.name).symlink_to(item)
    return own


def import_form(source: str) -> AppTest:
    at = open_app("pages/data.py")
    at.radio(key="data_mode").set_value(MODE).run()
    at.radio(key="myimg_source").set_value(source).run()
    at.text_input(key="myimg_name").input("Shapes").run()
    at.selectbox(key="myimg_side").select(32).run()
    at.slider(key="myimg_validation").set_value(0.2).run()
    return at


def uploader(at: AppTest, key: str):
    return next(w for w in at.get("file_uploader") if w.key == key)


def frame_with(at: AppTest, column: str):
    """The first data frame shown with `column`."""
    return next(f.value for f in at.dataframe if column in f.value.columns)


def submit(at: AppTest) -> AppTest:
    at.button(key="myimg_import").click().run()
    assert_no_exception(at)
    return at


def test_a_zip_upload_is_checked_saved_and_reported(data: Path, tmp_path: Path) -> None:
    root = shapes_folder(tmp_path, per_class=10)
    entries = folder_entries(root) + [("shapes/train/circle/readme.txt", b"hello")]
    at = import_form("Upload a zip")
    uploader(at, "myimg_zip").set_value(("shapes.zip", zip_bytes(entries), "application/zip"))
    submit(at)
    assert "listed in every dataset picker" in texts(at)
    assert at.get("plotly_chart"), "the class chart is shown"
    skipped = frame_with(at, "file")
    assert list(skipped["file"]) == ["train/circle/readme.txt"]
    assert "not an image" in skipped["reason"][0]
    assert "circle" in [t.value for t in at.text]
    # The dataset is in the pickers now, with its report on the Datasets view.
    at.radio(key="data_mode").set_value("Datasets").run()
    assert_no_exception(at)
    picker = at.selectbox(key="data_dataset")
    assert picker.value == "my-shapes"
    assert "My images: Shapes" in picker.options and "MNIST handwritten digits" in picker.options
    assert any(m.label == "Test images" and m.value == "6" for m in at.metric)
    assert "Import report" in [h.value for h in at.header]


def test_a_folder_upload_is_imported(data: Path, tmp_path: Path) -> None:
    root = shapes_folder(tmp_path, per_class=10)
    at = import_form("Upload a folder")
    files = [(name, body, "image/png") for name, body in folder_entries(root)]
    uploader(at, "myimg_dir").set_value(files)
    submit(at)
    assert "my-shapes" in list_user_datasets()
    assert at.get("plotly_chart")


def test_a_hostile_zip_shows_a_message_and_leaves_nothing(data: Path) -> None:
    at = import_form("Upload a zip")
    evil = zip_bytes([("shapes/train/a/x.png", b"x"), ("../../evil.png", b"x")])
    uploader(at, "myimg_zip").set_value(("evil.zip", evil, "application/zip"))
    submit(at)
    assert "outside its folder" in "\n".join(e.value for e in at.error)
    assert not list_user_datasets()
    assert not any((data / ROOT_NAME).iterdir())


def test_a_server_folder_outside_the_data_directory_is_refused(data: Path) -> None:
    at = import_form("Folder on the server")
    at.text_input(key="myimg_path").input("/etc").run()
    submit(at)
    assert "inside the data directory" in "\n".join(e.value for e in at.error)


def test_a_single_class_is_refused_before_any_run(data: Path) -> None:
    root = shapes_folder(data, per_class=10)
    for cls in ("square", "triangle"):
        for path in (root / "train" / cls).iterdir():
            path.unlink()
        (root / "train" / cls).rmdir()
    at = import_form("Folder on the server")
    at.text_input(key="myimg_path").input("shapes").run()
    submit(at)
    assert "at least 2 class folders" in "\n".join(e.value for e in at.error)


def test_train_page_offers_augmentation_with_a_preview(data: Path) -> None:
    shapes_folder(data, per_class=10)
    key = import_server_folder("shapes", "shapes", ImageOptions(side=32, validation=0.2))
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select(key).run()
    assert_no_exception(at)
    at.slider(key="train_aug_rotation").set_value(0.2).run()
    assert_no_exception(at)
    assert "aug_rotation" in list(frame_with(at, "layer")["layer"])
    assert len(at.get("image")) == 8
    first = [img.value for img in at.get("image")]
    at.selectbox(key="train_aug_flip").select("horizontal").run()
    assert len(at.get("image")) == 8
    assert "aug_flip" in list(frame_with(at, "layer")["layer"])
    assert [img.value for img in at.get("image")] != first


def test_the_report_tables_each_class_in_train_validation_and_test(data: Path) -> None:
    shapes_folder(data, per_class=10)  # 30 images, no test folder: 20% held out as the test set
    at = import_form("Folder on the server")
    at.text_input(key="myimg_path").input("shapes").run()
    submit(at)
    table = frame_with(at, "validation")
    assert list(table.columns) == ["class", "train", "validation", "test (held out)"]
    assert sorted(table["class"]) == ["circle", "square", "triangle"]
    dataset = load_user_dataset("my-shapes")
    assert table["test (held out)"].sum() == len(dataset.y_test) == 6
    # A run's split of the 24 remaining images at the dataset's share (20%): 5 for validation.
    assert table["validation"].sum() == 5 and table["train"].sum() == 19
    assert (table["train"] + table["validation"]).tolist() == [8, 8, 8]


def test_the_train_page_starts_at_the_validation_share_chosen_at_import(data: Path) -> None:
    shapes_folder(data, per_class=10)
    key = import_server_folder("shapes", "shapes", ImageOptions(side=32, validation=0.2))
    at = open_app("pages/train.py")
    assert at.number_input(key="train_val_fraction").value == pytest.approx(0.1)  # MNIST
    at.selectbox(key="train_dataset").select(key).run()
    assert_no_exception(at)
    assert at.number_input(key="train_val_fraction").value == pytest.approx(0.2)
    at.selectbox(key="train_dataset").select("mnist").run()
    assert at.number_input(key="train_val_fraction").value == pytest.approx(0.1)
