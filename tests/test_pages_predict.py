"""AppTest for the Predict page (drawing and uploads are covered in the browser test)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from cnn_core.schema.config import PRESETS
from tests.apptest_support import open_app
from tests.run_factory import untrained_model_run


def make_run(dataset: str, shape: tuple[int, int, int], name: str) -> Path:
    return untrained_model_run(PRESETS["Softmax regression"], name, dataset, shape)


def open_predict() -> AppTest:
    return open_app("pages/predict.py")


def test_mnist_model_offers_draw_and_upload() -> None:
    path = make_run("mnist", (28, 28, 1), "digits")
    at = open_predict()
    at.selectbox(key="predict_run").select(path.name).run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Draw", "Upload", "Camera"]
    infos = " ".join(i.value for i in at.info)
    assert "Draw a digit" in infos and "Upload one or more images" in infos


def test_starter_model_is_offered_and_marked() -> None:
    at = open_predict()
    picker = at.selectbox(key="predict_run")
    assert "mnist-starter" in picker.options[0] or "mnist-starter" in picker.value
    assert any("starter" in c.value for c in at.caption)


def test_colour_model_offers_upload_only() -> None:
    path = make_run("cifar10", (32, 32, 3), "photos")
    at = open_predict()
    at.selectbox(key="predict_run").select(path.name).run()
    assert [t.label for t in at.tabs] == ["Upload", "Camera"]


def test_other_28x28_grey_model_offers_upload_only() -> None:
    path = make_run("fashion_mnist", (28, 28, 1), "clothes")  # same shape, not digits
    at = open_predict()
    at.selectbox(key="predict_run").select(path.name).run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Upload", "Camera"]


def test_damaged_model_file_is_a_message_not_a_crash() -> None:
    path = make_run("mnist", (28, 28, 1), "damaged")
    (path / "model.keras").write_bytes(b"PK\x03\x04 this is not a keras archive")
    at = open_predict()
    at.selectbox(key="predict_run").select(path.name).run()
    assert not at.exception
    assert any("damaged" in e.value for e in at.error)
