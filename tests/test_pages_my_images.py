"""AppTest of "My images": the Data page's import form, report and delete control, and
augmentation on Train."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.data.user.importer import import_server_folder
from cnn_core.data.user.options import ImageOptions
from cnn_core.data.user.places import ROOT_NAME
from cnn_core.data.user.store import delete_dataset, list_user_datasets, load_user_dataset
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder
from cnn_core.store.lr_tests import create_lr_test
from tests.apptest_support import assert_no_exception, open_app, open_with_query, texts
from tests.image_folder_support import folder_entries, own_data_dir, shapes_folder, zip_bytes
from tests.run_factory import tiny_trained_run

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


def imported_with_run(data: Path) -> tuple[str, Path]:
    """An imported dataset and a run (an untrained tiny CNN, evaluated) on it."""
    shapes_folder(data, per_class=10)
    key = import_server_folder("shapes", "shapes", ImageOptions(side=32, validation=0.2))
    return key, tiny_trained_run(load_user_dataset(key), epochs=0)


def delete_form(key: str) -> AppTest:
    """The Data page's My images view with `key` chosen for deleting."""
    at = open_app("pages/data.py")
    at.radio(key="data_mode").set_value(MODE).run()
    at.selectbox(key="myimg_delete_choice").set_value(key).run()
    assert_no_exception(at)
    return at


def as_read(elements) -> str:
    """The texts of alert elements as the reader sees them (markdown escapes removed)."""
    return re.sub(r"\\(.)", r"\1", "\n".join(e.value for e in elements))


def errors(at: AppTest) -> str:
    return as_read(at.error)


def test_a_dataset_is_deleted_after_a_confirmation_and_its_run_still_opens(data: Path) -> None:
    key, run = imported_with_run(data)
    at = open_app("pages/data.py")
    at.selectbox(key="data_dataset").set_value(key).run()  # chosen: it follows across pages
    at.radio(key="data_mode").set_value(MODE).run()
    at.selectbox(key="myimg_delete_choice").set_value(key).run()
    at.button(key="myimg_delete").click().run()
    warning = as_read(at.warning)
    assert "Delete My images: shapes for good?" in warning
    assert "1 run of this workspace was trained on it" in warning
    assert key in list_user_datasets(), "nothing is deleted before the confirmation"
    at.button(key="myimg_delete_cancel").click().run()
    assert not at.warning and key in list_user_datasets()

    at.button(key="myimg_delete").click().run()
    at.button(key="myimg_delete_confirm").click().run()
    assert_no_exception(at)
    assert as_read(at.success) == "Deleted My images: shapes."
    assert key not in list_user_datasets() and not (data / ROOT_NAME / "shapes").exists()
    assert "No imported datasets in this workspace." in texts(at)
    at.radio(key="data_mode").set_value("Datasets").run()
    assert_no_exception(at)
    assert "My images: shapes" not in at.selectbox(key="data_dataset").options

    # The run keeps its recorded description: it opens, and says where images are missing.
    gone = {  # page: (its run picker, what it says where it needs the images)
        "evaluate": ("eval_run", "My images: shapes (not on this server) is not available"),
        "inside": ("inside_run", "My images: shapes (not on this server) is not available"),
        "predict": ("predict_run", "the training data of this model is not on this server"),
    }
    for page, (picker, words) in gone.items():
        shown = open_with_query(f"pages/{page}.py", run=run.name)
        assert shown.selectbox(key=picker).value == run.name, page
        assert words in texts(shown), page


def test_a_malformed_or_vanished_dataset_deletes_nothing_and_says_why(data: Path) -> None:
    shapes_folder(data, per_class=10)
    key = import_server_folder("shapes", "shapes", ImageOptions(side=32, validation=0.2))
    at = delete_form(key)
    at.session_state["myimg_delete_pending"] = "my-../../shapes"  # e.g. a crafted request
    at.run()
    at.button(key="myimg_delete_confirm").click().run()
    assert_no_exception(at)
    assert "Nothing was deleted: unknown dataset 'my-../../shapes'." in errors(at)
    assert key in list_user_datasets() and (data / "shapes" / "train").is_dir()

    at.button(key="myimg_delete").click().run()
    delete_dataset(key)  # from another tab, while this one asks for the confirmation
    at.button(key="myimg_delete_confirm").click().run()
    assert_no_exception(at)
    assert "there is no dataset 'my-shapes' in this workspace to delete" in errors(at)


def test_a_dataset_a_run_or_range_test_is_queued_on_is_not_deleted(data: Path) -> None:
    key, run = imported_with_run(data)
    RunFolder(run).write_status(RunState.QUEUED)  # waiting for a training slot
    at = delete_form(key)
    at.button(key="myimg_delete").click().run()
    assert_no_exception(at)
    assert "is in use: stop what is training on it first (tiny)" in errors(at)
    assert "myimg_delete_confirm" not in [b.key for b in at.button]
    assert key in list_user_datasets()
    RunFolder(run).write_status(RunState.COMPLETED)
    create_lr_test(TrainConfig(dataset=key))  # a learning-rate test reads the images too
    at.button(key="myimg_delete").click().run()
    assert "stop what is training on it first (a learning-rate test)" in errors(at)
    assert key in list_user_datasets()


def test_a_dataset_name_is_shown_as_typed_not_as_markdown(data: Path) -> None:
    shapes_folder(data, per_class=10)
    key = import_server_folder("**big** [x](y)", "shapes", ImageOptions(side=32, validation=0.2))
    at = delete_form(key)
    at.button(key="myimg_delete").click().run()
    raw = at.warning[0].value
    assert "\\*\\*big\\*\\* \\[x\\]\\(y\\)" in raw  # escaped, so markdown shows it as typed
    assert "Delete My images: **big** [x](y) for good?" in as_read(at.warning)
