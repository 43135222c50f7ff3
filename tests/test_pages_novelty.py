"""AppTest: Predict warns about images unlike the training data, and takes webcam photos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_support import assert_no_exception, open_app
from tests.image_folder_support import own_data_dir, shapes_folder
from tests.novelty_support import (
    TINY_CNN,
    fashion_like,
    fashion_run,
    jpeg,
    noise_image,
    png,
    train_tiny_model,
)
from tests.run_factory import replace_model

WARNING = "does not look like the"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_model(tmp_path_factory.mktemp("novelty_page") / "model.keras")


def open_on(model_file: Path) -> AppTest:
    run = fashion_run(model_file)
    at = open_app("pages/predict.py")
    at.selectbox(key="predict_run").select(run.name).run()
    assert_no_exception(at)
    return at


@pytest.fixture(scope="module")
def typical_items(model_file: Path) -> np.ndarray:
    """Test images (28, 28) in order of their score, most typical first, as the page fits it."""
    from cnn_core.insight.novelty import fit_detector
    from cnn_core.models.cnn import load_trained_model

    x_train, y_train, x_test, _ = fashion_like()
    detector = fit_detector(load_trained_model(model_file), x_train, y_train, x_test)
    return x_test[np.argsort(detector.scores(x_test.astype(np.float32))), ..., 0]


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if WARNING in w.value]


def test_foreign_upload_is_warned_about_and_a_familiar_one_is_not(
    model_file: Path, typical_items: np.ndarray
) -> None:
    at = open_on(model_file)
    assert [t.label for t in at.tabs] == ["Upload", "Camera"]
    at.file_uploader(key="predict_upload").set_value(
        ("item.png", png(typical_items[0]), "image/png")
    )
    at.run()
    assert_no_exception(at)
    assert warnings(at) == []
    assert any("Looks like the images the model was trained on" in c.value for c in at.caption)

    at.file_uploader(key="predict_upload").set_value(("noise.png", png(noise_image()), "image/png"))
    at.run()
    assert_no_exception(at)
    [warning] = warnings(at)
    assert "Fashion\\-MNIST" in warning and "may well be wrong" in warning  # Markdown-escaped
    assert "novelty score" in warning


def page_threshold(model) -> str:
    """The threshold the page shows for `model`, fitted as the page fits it."""
    from cnn_core.insight.novelty import fit_detector
    from pages._shared.novelty_view import FIT_IMAGES, HELDOUT_IMAGES

    x_train, y_train, x_test, _ = fashion_like()
    detector = fit_detector(
        model, x_train, y_train, x_test, fit_images=FIT_IMAGES, heldout_images=HELDOUT_IMAGES
    )
    return f"below {detector.check.threshold:,.1f}"


def verdict(at: AppTest) -> str:
    [shown] = warnings(at) + [c.value for c in at.caption if c.value.startswith("Looks like")]
    return shown


def test_a_new_model_file_gets_a_new_check_not_the_cached_one(
    model_file: Path, typical_items: np.ndarray
) -> None:
    """The check is fitted per model version: a model.keras saved over the run's must
    be fitted afresh, in the same session, never scored with the old model's check."""
    from cnn_core.models.cnn import build_model, load_trained_model

    at = open_on(model_file)
    at.file_uploader(key="predict_upload").set_value(
        ("item.png", png(typical_items[0]), "image/png")
    )
    at.run()
    old = page_threshold(load_trained_model(model_file))
    assert old in verdict(at)
    other = build_model(TINY_CNN, (28, 28, 1), 10, seed=7)  # untrained: other features
    new = page_threshold(other)
    assert new != old
    run = at.selectbox(key="predict_run").value
    replace_model(Path(os.environ["CNN_RUNS_DIR"]) / run, other)
    at.run()
    assert_no_exception(at)
    assert new in verdict(at)


def test_the_warning_names_an_imported_dataset_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen on Predict: "the My images: Shapes images" (the title already says images)."""
    from cnn_core.data.user.importer import import_server_folder
    from cnn_core.data.user.options import ImageOptions
    from pages._shared.novelty_view import unusual_text

    shapes_folder(own_data_dir(tmp_path, monkeypatch), per_class=10)
    key = import_server_folder("Shapes", "shapes", ImageOptions(side=32, validation=0.2))
    shown = unusual_text(key, "novelty score 9.0").replace("\\", "")  # as Markdown shows it
    assert "**This image does not look like the images this model was trained on**" in shown
    assert "(My images: Shapes; novelty score 9.0)" in shown
    assert shown.count("images") == 2  # "the images", "My images": never "Shapes images"
    assert "(novelty score 9.0)" in unusual_text(None, "novelty score 9.0")


def test_table_marks_which_of_several_uploads_are_unusual(
    model_file: Path, typical_items: np.ndarray
) -> None:
    at = open_on(model_file)
    files = [("item.png", png(typical_items[1]), "image/png")]
    files.append(("noise.png", png(noise_image(seed=3)), "image/png"))
    at.file_uploader(key="predict_upload").set_value(files).run()
    assert_no_exception(at)
    [table] = [d.value for d in at.dataframe]
    assert dict(zip(table["file"], table["unusual"], strict=True)) == {
        "item.png": False,
        "noise.png": True,
    }
    assert len(warnings(at)) == 1


def test_camera_tab_is_offered_and_a_photo_is_classified(
    model_file: Path, typical_items: np.ndarray
) -> None:
    at = open_on(model_file)
    camera = at.camera_input(key="predict_camera")
    assert "webcam" in camera.label
    photo = np.repeat(np.kron(typical_items[0], np.ones((8, 8), np.uint8))[..., None], 3, axis=2)
    camera.set_value(("photo.jpg", jpeg(photo), "image/jpeg")).run()
    assert_no_exception(at)
    assert len(at.get("plotly_chart")) == 1  # the photo's probability bars
    verdicts = warnings(at) + [c.value for c in at.caption if c.value.startswith("Looks like")]
    assert len(verdicts) == 1  # the photo went through the same novelty check


def test_a_broken_camera_photo_is_a_message(model_file: Path) -> None:
    at = open_on(model_file)
    at.camera_input(key="predict_camera").set_value(
        ("photo.jpg", b"\xff\xd8 not really", "image/jpeg")
    )
    at.run()
    assert_no_exception(at)
    assert any("photo.jpg" in e.value for e in at.error)


def test_inside_warns_about_a_foreign_upload(model_file: Path, typical_items: np.ndarray) -> None:
    run = fashion_run(model_file)
    at = open_app("pages/inside.py")
    at.selectbox(key="inside_run").select(run.name).run()
    at.radio(key="inside_source").set_value("upload").run()
    upload = at.file_uploader(key="inside_upload")
    upload.set_value(("item.png", png(typical_items[0]), "image/png")).run()
    assert_no_exception(at)
    assert warnings(at) == []
    at.file_uploader(key="inside_upload").set_value(
        ("noise.png", png(noise_image(seed=5)), "image/png")
    )
    at.run()
    assert_no_exception(at)
    assert len(warnings(at)) == 1
