"""AppTest for the "Inside the CNN" page and its Concepts tab (synthetic MNIST, tiny models)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_core.insight import concepts
from cnn_core.insight.inspection import filter_weights
from cnn_core.insight.predict import Predictor
from cnn_core.models.cnn import build_model, load_trained_model
from cnn_core.schema.config import PRESETS, ConvBlock, DenseLayer, ModelSpec
from cnn_core.store import folder as folder_module
from cnn_core.store.folder import STARTER_ROOT, RunFolder
from tests.apptest_support import assert_no_exception, open_app, texts
from tests.run_factory import untrained_model_run

TINY_CNN = ModelSpec(
    kind="cnn",
    conv_blocks=(ConvBlock(4, 3), ConvBlock(6, 3, pool=False)),
    dense_layers=(DenseLayer(8),),
)


def open_inside(path: Path | None = None) -> AppTest:
    """The Inside page, on the run at `path` when given."""
    at = open_app("pages/inside.py")
    if path is not None:
        at.selectbox(key="inside_run").select(path.name).run()
        assert_no_exception(at)
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["inside_tab"] = label  # what clicking the tab does
    at.run()
    assert_no_exception(at)
    return at


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_cnn_run_shows_layers_filters_maps_and_gradcam() -> None:
    path = untrained_model_run(TINY_CNN, "tiny cnn")
    at = open_inside(path)
    assert at.radio(key="inside_source").options == ["Test image", "Upload"]
    assert at.number_input(key="inside_index").value == 0
    assert "test image #0" in at.get("image")[0].captions[0]
    assert at.selectbox(key="inside_filter_layer").options == ["conv1", "conv2"]
    at.selectbox(key="inside_filter_layer").select("conv2").run()
    assert at.number_input(key="inside_filter_channel_conv2").max == 3  # 4 input channels
    assert not at.exception

    open_tab(at, "Feature maps")
    layers = at.selectbox(key="inside_fmap_layer")
    assert layers.value == "conv1" and "pool1" in layers.options
    at.selectbox(key="inside_fmap_layer").select("conv2").run()
    at.number_input(key="inside_index").set_value(17).run()
    assert not at.exception
    assert "conv2 outputs 14x14x6" in texts(at)

    open_tab(at, "Grad-CAM")
    at.selectbox(key="inside_cam_class").select(3).run()
    assert not at.exception
    assert at.selectbox(key="inside_cam_layer").value == "conv2"
    at.button(key="inside_random").click().run()
    assert not at.exception
    assert 0 <= at.number_input(key="inside_index").value < 200


def test_wide_layers_page_their_feature_maps() -> None:
    wide = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(70, 3),), dense_layers=())
    at = open_tab(open_inside(untrained_model_run(wide, "wide")), "Feature maps")
    pages = at.selectbox(key="inside_fmap_page_conv1")
    assert pages.options == ["0-63", "64-69"]
    pages.select(1).run()
    assert not at.exception


def test_colour_model_picks_input_channels_and_greys_the_concepts() -> None:
    path = untrained_model_run(TINY_CNN, "photos", dataset="cifar10", shape=(32, 32, 3))
    at = open_inside(path)
    assert at.number_input(key="inside_filter_channel_conv1").max == 2  # R, G, B
    at.number_input(key="inside_filter_channel_conv1").set_value(2).run()
    assert not at.exception
    assert "true class" in at.get("image")[0].captions[0]
    open_tab(at, "Concepts")
    assert at.number_input(key="concept_n").value == 32


def test_softmax_run_shows_templates_and_explains_gradcam() -> None:
    path = untrained_model_run(PRESETS["Softmax regression"], "baseline")
    at = open_inside(path)
    assert any("no convolutions" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 2  # the layer flow and the class templates
    open_tab(at, "Grad-CAM")
    assert any("Grad-CAM needs a convolution layer" in i.value for i in at.info)
    open_tab(at, "Feature maps")
    assert any("no layers with feature maps" in i.value for i in at.info)


def test_damaged_model_is_a_message_not_a_crash() -> None:
    path = untrained_model_run(PRESETS["Softmax regression"], "damaged")
    (path / "model.keras").write_bytes(b"PK\x03\x04 not a keras archive")
    at = open_inside(path)
    assert any("damaged" in e.value for e in at.error)
    assert at.selectbox(key="inside_run") is not None  # another run can still be picked


def test_uploads_bad_and_good() -> None:
    path = untrained_model_run(TINY_CNN, "uploads")
    at = open_inside(path)
    at.radio(key="inside_source").set_value("upload").run()
    at.file_uploader(key="inside_upload").set_value(("notes.png", b"hello", "image/png")).run()
    assert not at.exception
    assert any("notes.png" in e.value for e in at.error)
    digit = np.zeros((40, 40), np.uint8)
    digit[8:32, 18:22] = 255  # a "1"
    at.file_uploader(key="inside_upload").set_value(("one.png", png(digit), "image/png")).run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["Prediction"]


def test_last_drawing_is_offered_for_digit_models() -> None:
    starter = RunFolder(STARTER_ROOT / "mnist-starter")
    at = open_inside(starter.path)
    assert "Last drawing" not in at.radio(key="inside_source").options
    # what the Predict page stores: float32 (28, 28, 1) raw pixels in [0, 255]
    drawing = np.zeros((28, 28, 1), np.float32)
    drawing[4:24, 13:16] = 255  # a "1"
    at.session_state["last_drawn_digit"] = drawing
    at.run()
    at.radio(key="inside_source").set_value("drawn").run()
    assert not at.exception
    (image,) = at.get("image")
    assert "last drawing" in image.captions[0]
    probs = Predictor(load_trained_model(starter.model_path)).image_probabilities(drawing)
    (metric,) = at.metric
    assert metric.value == str(int(probs.argmax()))  # the page fed the raw drawing as it is
    assert f"{probs.max():.1%} sure" in str(metric.proto.delta)


def test_concepts_controls_and_output_size_rule() -> None:
    path = untrained_model_run(TINY_CNN, "concepts")
    at = open_tab(open_inside(path), "Concepts")
    at.selectbox(key="concept_kernel").select("sobel horizontal").run()
    row, col = at.number_input(key="concept_row").value, at.number_input(key="concept_col").value
    (line,) = [m.value for m in at.markdown if m.value.startswith("output[")]
    assert line.startswith(f"output[{row}, {col}] = ") and not line.endswith("= 0.000")
    at.number_input(key="concept_row").set_value(0).run()
    at.button(key="concept_strongest").click().run()
    assert at.number_input(key="concept_row").value == row  # back to the strongest output
    for n, k, s, padding in [(28, 3, 1, "valid"), (28, 5, 2, "same"), (7, 3, 3, "full")]:
        at.number_input(key="concept_n").set_value(n)
        at.number_input(key="concept_k").set_value(k)
        at.number_input(key="concept_s").set_value(s)
        at.radio(key="concept_padding").set_value(padding).run()
        assert not at.exception
        metrics = {m.label: m.value for m in at.metric}
        expected = str(concepts.output_size(n, k, s, padding))
        assert metrics["Output size"] == expected
        assert metrics["Keras Conv2D says"] == expected
    at.number_input(key="concept_logit_0").set_value(10.0).run()
    at.slider(key="concept_dropout_rate").set_value(0.25).run()
    at.radio(key="concept_pool").set_value(3).run()
    assert not at.exception


def test_without_any_model_the_page_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folder_module, "STARTER_ROOT", tmp_path / "no-starters")
    at = open_inside()
    assert any("No trained model yet" in i.value for i in at.info)


def filter_chart_spec(at: AppTest) -> str:
    """The plotly spec (JSON) of the Filters grid."""
    (spec,) = [c.proto.spec for c in at.get("plotly_chart") if "input channel 0" in c.proto.spec]
    return spec


def weights_range(path: Path) -> str:
    """How the filter grid's title states conv1's weight range for the run's saved model."""
    model = load_trained_model(RunFolder(path).model_path)
    weights = filter_weights(model, "conv1", 0)
    return f"min {weights.min():.3g}, max {weights.max():.3g}"


def test_filter_grid_follows_a_retrained_model_and_the_chosen_run() -> None:
    first, second = untrained_model_run(TINY_CNN, "first"), untrained_model_run(TINY_CNN, "other")
    RunFolder(second).save_model(build_model(TINY_CNN, (28, 28, 1), 10, seed=3))
    at = open_inside(first)
    before = filter_chart_spec(at)
    assert weights_range(first) in before
    assert at.metric[0].delta != "100.0% sure"  # an untrained model is unsure

    # the run's model is replaced (retrained in place, now sure of class 7): the page
    # shows the new weights and the new model's prediction
    retrained = build_model(TINY_CNN, (28, 28, 1), 10, seed=7)
    retrained.layers[-1].bias.assign(np.eye(10, dtype=np.float32)[7] * 50)
    RunFolder(first).save_model(retrained)
    at.run()
    assert_no_exception(at)
    after = filter_chart_spec(at)
    assert after != before and weights_range(first) in after
    assert at.metric[0].value == "7" and at.metric[0].delta == "100.0% sure"

    at.selectbox(key="inside_run").select(second.name).run()
    assert_no_exception(at)
    other = filter_chart_spec(at)
    assert weights_range(second) in other and other not in (before, after)
