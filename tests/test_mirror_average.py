"""Test-time flips (a run that predicts from each image and its mirror image): trained
through the worker, then on every page that predicts or reports with it, in Compare, in
a bundle, and chosen on the Train form."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.data.registry import load_dataset
from cnn_core.insight.labels import MIRROR_AVERAGE_CAPTION, MIRROR_EXPORT_CAPTION
from cnn_core.insight.percents import percent
from cnn_core.models.cnn import load_trained_model
from cnn_core.models.evaluate import predict_in_batches
from cnn_core.schema.config import AugmentSpec, FitSpec, TrainConfig
from cnn_core.schema.records import Evaluation, RecordError, RunState
from cnn_core.sharing.bundles import export_bundle, import_bundle
from cnn_core.store.access import delete_run
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import load_run
from cnn_core.training.worker import launch_run
from tests.apptest_support import (
    launches_without_a_worker,
    open_app,
    open_with_query,
    texts,
)
from tests.journey_runs import SMALL_CNN
from tests.run_factory import finished_run
from tests.test_pages_journeys import leave_and_return
from tests.waiting import wait_for

MIRRORED = AugmentSpec(flip="horizontal", mirror_average=True)


def mirrored_and_plain() -> tuple[RunFolder, RunFolder]:
    """Two finished Fashion-MNIST runs alike but for test-time flips (with, without)."""
    mirrored = TrainConfig("fashion_mnist", SMALL_CNN, augment=MIRRORED, name="Mirrored")
    plain = TrainConfig(
        "fashion_mnist", SMALL_CNN, augment=AugmentSpec(flip="horizontal"), name="Plain"
    )
    return finished_run(mirrored), finished_run(plain)


@pytest.mark.slow
def test_the_worker_evaluates_a_mirrored_run_as_the_pages_predict() -> None:
    config = TrainConfig(
        "fashion_mnist", SMALL_CNN, fit=FitSpec(epochs=1, batch_size=32), augment=MIRRORED
    )
    folder, _ = launch_run(config)
    wait_for(lambda: not load_run(folder.path).active, timeout=180, what="the run to end")
    run = load_run(folder.path)
    assert run.state == RunState.COMPLETED, run.message
    assert run.mirror_average
    evaluation = folder.read_evaluation()
    dataset = load_dataset("fashion_mnist")
    model = load_trained_model(folder.model_path)
    expected = predict_in_batches(model, dataset.x_test, mirror=True)
    probs, _ = folder.read_predictions(10, evaluation.n)
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-5)
    assert evaluation.correct == int((expected.argmax(axis=1) == dataset.y_test).sum())
    single = predict_in_batches(model, dataset.x_test).argmax(axis=1) == dataset.y_test
    assert evaluation.single_accuracy == pytest.approx(single.mean())
    assert run.test_accuracy == evaluation.accuracy  # the mirrored one, everywhere


def test_every_page_says_a_run_predicts_with_mirrors_and_only_that_run() -> None:
    folders = mirrored_and_plain()
    single = folders[0].read_evaluation().single_accuracy
    assert single is not None
    mirrored, plain = (folder.run_id for folder in folders)
    for run_id, expected in ((mirrored, True), (plain, False)):
        at = open_with_query("pages/evaluate.py", run=run_id)
        captions = [c.value for c in at.caption]
        line = f"{percent(single)} on single images" if expected else "on single images"
        assert any(line in c for c in captions) is expected, captions
        assert ("On single images" in at.metric[0].help) is expected
        for page in ("pages/predict.py", "pages/inside.py"):
            at = open_with_query(page, run=run_id)
            assert (MIRROR_AVERAGE_CAPTION in texts(at)) is expected, page
        at = open_with_query("pages/runs.py", run=run_id)
        assert (MIRROR_EXPORT_CAPTION in texts(at)) is expected
    at = open_with_query("pages/compare.py", runs=f"{mirrored},{plain}")
    table = next(f.value for f in at.dataframe if "dataset" in f.value.index)
    assert list(table.loc["test-time flips"]) == ["image + mirror", "off"]


def test_a_bundle_keeps_test_time_flips_and_the_single_image_accuracy() -> None:
    folder, _ = mirrored_and_plain()
    source = load_run(folder.path)
    before = source.read_evaluation()
    bundle = export_bundle(source)
    delete_run(source)
    imported = load_run(import_bundle(bundle).path)
    assert imported.mirror_average
    assert imported.read_evaluation().single_accuracy == before.single_accuracy
    at = open_with_query("pages/predict.py", run=imported.run_id)
    assert MIRROR_AVERAGE_CAPTION in texts(at)


def test_the_train_form_offers_test_time_flips_only_with_horizontal_flips(monkeypatch) -> None:
    launched = launches_without_a_worker(monkeypatch)
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select("fashion_mnist").run()
    assert at.checkbox(key="train_aug_mirror").disabled  # no flips yet
    at.selectbox(key="train_aug_flip").select("horizontal").run()
    assert not at.checkbox(key="train_aug_mirror").disabled
    at.checkbox(key="train_aug_mirror").check().run()
    leave_and_return(at)
    assert at.checkbox(key="train_aug_mirror").value is True
    at.button(key="train_start").click().run()
    (run,) = launched
    assert run.read_config().augment == MIRRORED
    # flips switched off again: the switch goes grey and no run predicts with mirrors
    at.selectbox(key="train_aug_flip").select("none").run()
    assert at.checkbox(key="train_aug_mirror").disabled
    at.button(key="train_start").click().run()
    assert not launched[-1].read_config().augment.mirror_average


@pytest.mark.parametrize("stored", [1.5, -0.1, "most", True, [0.9]])
def test_a_stored_single_image_accuracy_that_is_no_fraction_is_refused(stored) -> None:
    """A tampered evaluation record (say, in a bundle) is refused, never shown."""
    folder, _ = mirrored_and_plain()
    record = folder.read_evaluation().to_dict()
    record["single_accuracy"] = stored
    with pytest.raises(RecordError, match="incomplete or malformed"):
        Evaluation.from_dict(record)
    record["single_accuracy"] = None  # a run without test-time flips
    assert Evaluation.from_dict(record).single_accuracy is None
