"""AppTest of the Evaluate page on hand-made runs with a tiny real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.data.registry import load_dataset
from cnn_core.models.evaluate import summarize
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import Evaluation, RunState
from cnn_core.store import folder as folder_module
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.runs import load_run
from tests.apptest_support import open_app, open_in_fresh_process, texts
from tests.run_factory import TINY_SPEC, copy_run

PAGE = "pages/evaluate.py"


def accuracy_shown(evaluation: Evaluation) -> str:
    """The metric's value: the percentage (the counts sit under it)."""
    return f"{100 * evaluation.accuracy:.2f}%"


def open_evaluate() -> AppTest:
    return open_app(PAGE)


def image_captions(at: AppTest) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


def test_evaluated_run_shows_accuracy_table_gallery_and_download(
    trained_run: Path, isolated_store: Path
) -> None:
    path = copy_run(trained_run, isolated_store)
    evaluation = RunFolder(path).read_evaluation()
    at = open_evaluate()
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == accuracy_shown(evaluation)
    deltas = {m.label: m.delta for m in at.metric}
    assert deltas["Test accuracy"] == f"{evaluation.correct:,} / {evaluation.n:,} right"
    assert metrics["Test loss"] == f"{evaluation.loss:.4f}"

    (table_element,) = at.dataframe
    table = table_element.value
    assert list(table["class"]) == list(evaluation.class_names)
    assert list(table.columns) == ["class", "precision", "recall", "F1", "support"]
    np.testing.assert_allclose(table["recall"], 100 * np.array(evaluation.per_class.recall))
    assert table["support"].sum() == evaluation.n

    matrix = np.array(evaluation.confusion_matrix)
    t = p = int(np.diag(matrix).argmax())  # right answers: shown in no error section
    at.selectbox(key="eval_true").set_value(int(t)).run()
    at.selectbox(key="eval_pred").set_value(int(p)).run()
    assert not at.exception
    assert f"{matrix[t, p]:,} test images" in texts(at)
    name = evaluation.class_names
    wanted = f"true: {name[t]}, predicted: {name[p]} ("
    assert sum(c.startswith(wanted) for c in image_captions(at)) == min(int(matrix[t, p]), 40)

    errors = np.argwhere(matrix - np.diag(np.diag(matrix)) > 0)
    if len(errors):  # a cell of wrong answers: its count, named by both classes
        t, p = (int(v) for v in errors[0])
        at.selectbox(key="eval_true").set_value(t).run()
        at.selectbox(key="eval_pred").set_value(p).run()
        expected = f"{matrix[t, p]:,} test images of **{name[t]}** predicted as **{name[p]}**"
        assert expected in texts(at)

    probs, y_true = RunFolder(path).read_predictions()
    first = int(np.flatnonzero(probs.argmax(axis=1) != y_true)[0])
    caption = f"true: {name[y_true[first]]}, predicted: {name[probs[first].argmax()]}"
    assert caption in image_captions(at)  # the first error, in every gallery's words

    assert at.get("download_button"), "no download button"
    assert at.toggle(key="eval_normalise").set_value(True).run() and not at.exception


def test_empty_cell_says_so(trained_run: Path, isolated_store: Path) -> None:
    path = copy_run(trained_run, isolated_store)
    matrix = np.array(RunFolder(path).read_evaluation().confusion_matrix)
    empty = np.argwhere(matrix == 0)
    if not len(empty):
        pytest.skip("every cell of this confusion matrix has images")
    at = open_evaluate()
    at.selectbox(key="eval_true").set_value(int(empty[0][0])).run()
    at.selectbox(key="eval_pred").set_value(int(empty[0][1])).run()
    assert "No test image of" in texts(at)


def test_interrupted_run_is_evaluated_once(
    synthetic_data_dir: Path, trained_run: Path, isolated_store: Path
) -> None:
    folder = RunFolder(copy_run(trained_run, isolated_store))
    folder.evaluation_path.unlink()
    folder.predictions_path.unlink()
    folder.write_status(RunState.RUNNING, pid=999_999_999)  # the worker died mid-training
    assert load_run(folder.path).state == RunState.INTERRUPTED
    at = open_evaluate()
    assert not at.error, [e.value for e in at.error]
    evaluation = folder.read_evaluation()
    assert evaluation is not None and folder.predictions_path.is_file()
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == accuracy_shown(evaluation)
    stamp = folder.evaluation_path.stat().st_mtime_ns
    at.run()
    open_evaluate()
    assert folder.evaluation_path.stat().st_mtime_ns == stamp, "evaluated twice"


def test_corrupt_model_without_evaluation_is_an_error_not_a_crash(
    trained_run: Path, isolated_store: Path
) -> None:
    path = copy_run(trained_run, isolated_store)
    (path / "evaluation.json").unlink()
    (path / "model.keras").write_bytes(b"PK\x03\x04 this is no model")
    at = open_evaluate()
    assert any("damaged" in e.value for e in at.error), [e.value for e in at.error]
    assert not (path / "evaluation.json").exists()


def test_damaged_predictions_keep_the_metrics_and_offer_a_fresh_evaluation(
    trained_run: Path, isolated_store: Path
) -> None:
    path = copy_run(trained_run, isolated_store)
    (path / "predictions.npz").write_bytes(b"broken")
    at = open_evaluate()
    assert any("predictions file" in e.value for e in at.error), [e.value for e in at.error]
    assert "Test accuracy" in {m.label for m in at.metric}
    at.button(key="eval_redo").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.get("download_button")


def test_no_runs_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_module, "STARTER_ROOT", tmp_path / "no_starters")
    at = open_evaluate()
    assert "No trained model yet" in texts(at)


def test_evaluated_run_opens_without_tensorflow_or_the_model(
    synthetic_data_dir: Path, isolated_store: Path, tmp_path: Path
) -> None:
    """Files only: the model file is garbage and TensorFlow must stay unloaded."""
    dataset = load_dataset("mnist")
    config = TrainConfig(model=TINY_SPEC)
    folder = create_run(config)
    folder.write_status(RunState.COMPLETED)
    folder.model_path.write_bytes(b"never loaded")
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), len(dataset.y_test)).astype(np.float32)
    record = summarize(probs, dataset.y_test, dataset.info.class_names)
    folder.save_evaluation(record, probs, dataset.y_test)
    result = open_in_fresh_process(PAGE)
    assert result["exceptions"] == [] and result["errors"] == [], result
    assert accuracy_shown(record) in result["metrics"]
    assert result["tf"] == [], "opening an evaluated run loaded TensorFlow"


def test_counts_in_tables_have_thousands_separators() -> None:
    from pages._shared.common import count_columns

    config = count_columns("support", "train")
    assert set(config) == {"support", "train"}
    assert all(c["type_config"]["format"] == "localized" for c in config.values())
