"""The Train page's pretrained-VGG16 options (AppTest): settings, weights, cache, launch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cnn_core.models.vgg16_weights import WEIGHTS_FILE
from cnn_core.schema.config import Vgg16Spec
from cnn_core.store.runs import list_runs
from cnn_core.training import feature_cache
from tests.apptest_support import launches_without_a_worker, open_app, texts


def vgg_page():
    at = open_app("pages/train.py")
    at.radio(key="train_kind").set_value("vgg16").run()
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_imagenet_weights_missing_offline_blocks_launch_and_names_the_file(
    isolated_store: Path,
) -> None:
    at = vgg_page()
    page = texts(at)
    assert WEIGHTS_FILE in page and "58.9 MB" in page and "models/" in page
    assert any(b.label.startswith("Download ImageNet weights") for b in at.button)
    assert at.button(key="train_start").disabled
    assert list_runs() == []


def test_random_weights_show_both_phases_estimates_and_launch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launched = launches_without_a_worker(monkeypatch)
    at = vgg_page()
    at.radio(key="train_vgg_weights").set_value("none").run()
    at.radio(key="train_vgg_mode").set_value("fine_tune").run()
    shown = metrics(at)
    head = int(shown["Head (base frozen): trainable"].replace(",", ""))
    fine = int(shown["Fine-tuning (block5 unfrozen): trainable"].replace(",", ""))
    assert head == 512 * 256 + 256 + 256 * 10 + 10
    assert fine - head == 3 * (9 * 512 * 512 + 512)  # block5's three convs
    page = texts(at)
    assert "VGG16 (not pretrained) fine-tuned, 32 px" in page
    assert "Estimated on this machine" in page and "fine-tuning epoch" in page
    assert "Feature cache: 0 B" in page
    assert not at.button(key="train_start").disabled
    at.button(key="train_start").click().run()
    (run,) = launched
    vgg = run.read_config().model.vgg16
    assert vgg.weights == "none" and vgg.fine_tune


def test_bad_settings_and_a_missing_weights_file_get_messages(isolated_store: Path) -> None:
    at = vgg_page()
    at.number_input(key="train_vgg_dropout").set_value(0.99).run()
    assert any("VGG16 head dropout must be between 0 and 0.95" in e.value for e in at.error)
    assert at.button(key="train_start").disabled
    at.number_input(key="train_vgg_dropout").set_value(0.5).run()
    at.radio(key="train_vgg_weights").set_value("file").run()
    assert any("VGG16 weights file must name" in e.value for e in at.error)
    at.text_input(key="train_vgg_file").input("/nowhere/vgg.h5").run()
    assert "/nowhere/vgg.h5 does not exist" in texts(at)
    assert at.button(key="train_start").disabled
    assert list_runs() == []


def test_the_cache_size_shows_and_clears() -> None:
    key = feature_cache.CacheKey("cifar10", "train", 0, 32, "w", "block5_pool", "i")
    feature_cache.compute(
        [key], [(512,)], np.zeros((50, 2, 2, 3), np.uint8), lambda b: [np.ones((len(b), 512))]
    )
    at = vgg_page()
    assert "(1 entries)" in texts(at)
    at.button(key="vgg_clear_cache").click().run()
    assert feature_cache.entries() == []
    assert "Feature cache: 0 B" in texts(at)


def test_the_estimate_counts_the_test_images_features_too(isolated_store: Path) -> None:
    from cnn_core.data.registry import load_dataset

    dataset = load_dataset("mnist")  # the synthetic copy the tests serve
    at = vgg_page()
    at.radio(key="train_vgg_weights").set_value("none").run()
    n = len(dataset.y_train) + len(dataset.y_test)
    assert f"features of all {n:,} images (training, validation, test) once" in texts(at)


def test_a_failed_download_leaves_no_progress_bar_under_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cnn_core.base.errors import UserError
    from pages._shared import vgg16_options

    def offline(on_progress, poll_s: float = 0.25):
        on_progress(0, 58_889_256)
        raise UserError("could not download the weights (offline)")

    monkeypatch.setattr(vgg16_options, "download_imagenet_weights", offline)
    at = vgg_page()
    at.button(key="vgg_download_weights").click().run()
    assert any("could not download the weights" in e.value for e in at.error)
    assert list(at.get("progress")) == []


def test_the_vgg16_widgets_start_from_vgg16spec_s_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launched = launches_without_a_worker(monkeypatch)
    at = vgg_page()
    at.radio(key="train_vgg_weights").set_value("none").run()  # no download offline
    at.button(key="train_start").click().run()
    (run,) = launched
    assert run.read_config().model.vgg16 == replace(Vgg16Spec(), weights="none")
