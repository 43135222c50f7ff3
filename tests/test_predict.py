"""Prediction: batched uploads with bad files, the compiled predictor, the starter model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnn_core.data.images import canvas_to_digit
from cnn_core.data.registry import load_dataset
from cnn_core.insight.inspection import Inspector
from cnn_core.insight.predict import Predictor, prepare_uploads, reads_digits
from cnn_core.models.cnn import build_model, load_trained_model
from cnn_core.models.evaluate import evaluate_model, predict_in_batches
from cnn_core.schema.config import PRESETS
from cnn_core.store.access import model_runs
from cnn_core.store.folder import STARTER_ROOT, RunFolder

STARTER = STARTER_ROOT / "mnist-starter"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def digit_one_photo() -> Image.Image:
    """A dark '1' on white paper, 200x200."""
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).line([(100, 30), (100, 170)], fill=0, width=14)
    return image


def test_a_bad_file_gets_its_message_and_the_others_are_still_prepared() -> None:
    files = [
        ("one.png", png_bytes(digit_one_photo())),
        ("notes.txt", b"hello, not an image"),
        ("truncated.png", png_bytes(digit_one_photo())[:60]),
        ("rgb.png", png_bytes(digit_one_photo().convert("RGB"))),
    ]
    prepared = prepare_uploads(files, (28, 28, 1))
    assert prepared.names == ["one.png", "rgb.png"]
    assert prepared.batch().shape == (2, 28, 28, 1)
    assert len(prepared.errors) == 2
    assert prepared.errors[0].startswith("notes.txt") and prepared.errors[1].startswith("truncated")
    np.testing.assert_allclose(prepared.inputs[0], prepared.inputs[1], atol=1e-6)


def test_rgb_models_get_resized_colour_input() -> None:
    photo = Image.new("RGB", (64, 48), (200, 30, 30))
    prepared = prepare_uploads([("red.png", png_bytes(photo))], (32, 32, 3))
    (seen,) = prepared.inputs
    assert seen.shape == (32, 32, 3)
    np.testing.assert_allclose(seen.reshape(-1, 3).mean(axis=0), (200, 30, 30), atol=1)


def test_predictor_matches_the_model_on_raw_pixels() -> None:
    model = build_model(PRESETS[next(iter(PRESETS))], (28, 28, 1), 10, seed=3)
    predictor = Predictor(model)
    images = np.random.default_rng(0).uniform(0, 255, (5, 28, 28, 1)).astype(np.float32)
    expected = np.asarray(model(images, training=False))
    np.testing.assert_allclose(predictor.probabilities(images), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        predictor.image_probabilities(images[2]), expected[2], rtol=1e-5, atol=1e-6
    )


def test_predictor_rejects_images_of_another_shape() -> None:
    predictor = Predictor(build_model(PRESETS["Softmax regression"], (28, 28, 1), 10, seed=0))
    for call, images in [
        (predictor.probabilities, np.zeros((2, 32, 32, 1), np.float32)),
        (predictor.probabilities, np.zeros((28, 28, 1), np.float32)),  # one image, not a batch
        (predictor.image_probabilities, np.zeros((28, 28), np.float32)),
    ]:
        with pytest.raises(ValueError, match=r"\(n, 28, 28, 1\)"):
            call(images)


def test_predictor_and_inspector_agree_on_a_raw_image() -> None:
    model = build_model(PRESETS[next(iter(PRESETS))], (28, 28, 1), 10, seed=5)
    image = np.random.default_rng(1).uniform(0, 255, (28, 28, 1)).astype(np.float32)
    predicted = Predictor(model).image_probabilities(image)
    inspected = Inspector(model).image_probabilities(image)
    np.testing.assert_allclose(inspected, predicted, rtol=1e-5, atol=1e-7)
    assert predicted.shape == (10,) and predicted.max() > predicted.min()


def test_test_time_flips_average_the_image_and_its_mirror_everywhere() -> None:
    """Predict and Inside (the compiled call) and the test evaluation (batches) predict
    alike for a run with test-time flips: the mean of the image's and the mirror's."""
    model = build_model(PRESETS[next(iter(PRESETS))], (28, 28, 1), 10, seed=7)
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (6, 28, 28, 1)).astype(np.float32)
    plain = np.asarray(model(images, training=False))
    mirrored = np.asarray(model(images[:, :, ::-1, :], training=False))
    expected = (plain + mirrored) / 2
    assert np.abs(expected - plain).max() > 1e-4  # the mirror changes the answer
    tolerance = {"rtol": 1e-5, "atol": 1e-6}
    compiled = Predictor(model, mirror=True).probabilities(images)
    np.testing.assert_allclose(compiled, expected, **tolerance)
    one = Inspector(model, mirror=True).image_probabilities(images[3])
    np.testing.assert_allclose(one, expected[3], **tolerance)
    batched = predict_in_batches(model, images, 4, mirror=True)
    np.testing.assert_allclose(batched, expected, **tolerance)
    labels = rng.integers(0, 10, 6)
    evaluation, probs = evaluate_model(model, images.astype(np.uint8), labels, list("abcdefghij"))
    assert evaluation.single_accuracy is None
    evaluation, probs = evaluate_model(
        model, images.astype(np.uint8), labels, list("abcdefghij"), mirror=True
    )
    as_uint8 = images.astype(np.uint8)
    single = np.asarray(model(as_uint8.astype(np.float32), training=False)).argmax(axis=1)
    assert evaluation.single_accuracy == pytest.approx((single == labels).mean())
    assert evaluation.correct == int((probs.argmax(axis=1) == labels).sum())
    np.testing.assert_allclose(probs, predict_in_batches(model, as_uint8, mirror=True), **tolerance)


@pytest.mark.parametrize(
    ("shape", "dataset", "expected"),
    [
        ((28, 28, 1), "mnist", True),
        ([28, 28, 1], "mnist", True),
        ((28, 28, 1), "fashion_mnist", False),
        ((28, 28, 1), None, False),
        ((32, 32, 3), "mnist", False),
        ((32, 32, 1), "mnist", False),
    ],
)
def test_one_rule_says_which_models_read_digits(shape, dataset, expected) -> None:
    assert reads_digits(shape, dataset) is expected


def test_starter_model_ships_small_and_listed_as_a_model_run() -> None:
    assert (STARTER / "model.keras").is_file(), "run scripts/make_starter_model.py"
    assert (STARTER / "model.keras").stat().st_size < 5_000_000
    starters = [r for r in model_runs() if r.starter]
    assert [r.run_id for r in starters] == ["mnist-starter"]
    assert starters[0].state == "completed" and starters[0].config.dataset == "mnist"


def test_starter_model_recognises_a_drawn_one() -> None:
    canvas = np.zeros((280, 280, 4), np.uint8)
    image = Image.fromarray(canvas, "RGBA")
    ImageDraw.Draw(image).line([(140, 50), (140, 230)], fill=(255, 255, 255, 255), width=18)
    digit = canvas_to_digit(np.asarray(image))  # (28, 28, 1) in [0, 255]
    predictor = Predictor(load_trained_model(STARTER / "model.keras"))
    probs = predictor.image_probabilities(digit)
    assert int(probs.argmax()) == 1, probs


@pytest.mark.slow
def test_starter_model_accuracy_on_the_real_test_set(
    shared_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_DATA_DIR", str(shared_mnist))
    test = load_dataset("mnist")
    predictor = Predictor(load_trained_model(STARTER / "model.keras"))
    probs = np.concatenate(
        [predictor.probabilities(test.x_test[i : i + 1000]) for i in range(0, 10000, 1000)]
    )
    accuracy = float((probs.argmax(axis=1) == test.y_test).mean())
    stored = RunFolder(STARTER).read_evaluation().accuracy
    assert accuracy >= 0.98
    assert abs(accuracy - stored) < 1e-3  # the README and status quote this figure


def test_fashion_models_get_the_whole_item_not_the_digit_recipe() -> None:
    shirt = Image.new("L", (100, 60), 255)  # a wide dark item on white paper
    ImageDraw.Draw(shirt).rectangle([10, 10, 89, 49], fill=30)
    (item,) = prepare_uploads([("shirt.png", png_bytes(shirt))], (28, 28, 1), digits=False).inputs
    (digit,) = prepare_uploads([("shirt.png", png_bytes(shirt))], (28, 28, 1)).inputs
    columns_used = (item[..., 0] > 127.5).any(axis=0).sum()
    assert item[14, 14, 0] > 0.8 * 255  # inverted: the item is bright on black
    assert columns_used >= 21  # scaled to fill the frame (about 22 px), not a 20 px digit box
    assert columns_used > (digit[..., 0] > 127.5).any(axis=0).sum()


def test_a_webcam_jpeg_is_prepared_like_an_upload() -> None:
    # A 640x480 photo as st.camera_input returns it: a light background, a dark object.
    photo = np.full((480, 640, 3), 230, np.uint8)
    photo[140:340, 220:420] = (40, 60, 90)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=85)
    files = [("image.jpg", buffer.getvalue())]
    item = prepare_uploads(files, (28, 28, 1), digits=False)
    colour = prepare_uploads(files, (32, 32, 3), digits=False)
    assert item.errors == [] and colour.errors == []
    assert item.inputs[0].shape == (28, 28, 1) and colour.inputs[0].shape == (32, 32, 3)
    centre, corner = item.inputs[0][14, 14, 0], item.inputs[0][1, 1, 0]
    assert centre > 150 > corner  # light background inverted: a light item on black
    assert colour.inputs[0][16, 16, 2] > colour.inputs[0][16, 16, 0]  # still bluish
