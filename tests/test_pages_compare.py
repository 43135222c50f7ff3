"""AppTest for the Compare page and the one-click comparisons of the Train page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.base.errors import UserError
from cnn_core.models.evaluate import summarize
from cnn_core.schema.config import DEFAULT_PRESET, PRESETS, ModelSpec, TrainConfig
from cnn_core.schema.records import EpochRecord
from cnn_core.store.folder import RunFolder, create_run
from pages._shared import compare_actions
from tests.apptest_support import (
    APP,
    TIMEOUT_S,
    assert_no_exception,
    launches_without_a_worker,
    open_with_query,
    texts,
)
from tests.run_factory import make_run, untrained_model_run, val_history

PAGE = "pages/compare.py"


def finished_run(config: TrainConfig, val_accuracies: list[float], correct: int = 80) -> RunFolder:
    """A completed run made by hand: epochs, and a test result of `correct` in 100 (2 classes)."""
    epochs = val_history(val_accuracies, seconds=1.0)
    folder = make_run(config, epochs=epochs, train_seconds=float(len(val_accuracies)))
    add_evaluation(folder, correct)
    return folder


def add_evaluation(folder: RunFolder, correct: int, n_classes: int = 2) -> None:
    """Store predictions that get `correct` of 100 test images right."""
    y_true = np.arange(100) % n_classes
    predicted = np.where(np.arange(100) < correct, y_true, (y_true + 1) % n_classes)
    probs = np.eye(n_classes, dtype=np.float32)[predicted]
    names = [str(i) for i in range(n_classes)]
    folder.save_evaluation(summarize(probs, y_true, names), probs, y_true)


def open_compare(ids: list[str]) -> AppTest:
    """The app opened on the Compare page with `?runs=<ids>`."""
    return open_with_query(PAGE, runs=",".join(ids))


def charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def test_without_runs_the_page_says_what_to_do() -> None:
    at = open_compare([])
    assert "No runs yet" in texts(at)


def test_a_link_opens_the_runs_it_names_and_reports_an_unknown_one() -> None:
    a = finished_run(TrainConfig(name="run a", seed=1), [0.5, 0.7], correct=70)
    b = finished_run(
        TrainConfig(name="run b", seed=2, model=ModelSpec(kind="softmax")), [0.6], correct=90
    )
    finished_run(TrainConfig(name="not chosen"), [0.4])
    at = open_compare([b.run_id, "20990101-000000-gone", a.run_id])
    assert "20990101-000000-gone" in texts(at) and "No run with the id" in texts(at)
    assert at.query_params["runs"] == f"{b.run_id},20990101-000000-gone,{a.run_id}"

    settings = next(d for d in at.dataframe if "run id" in d.value.index)
    assert list(settings.value.columns) == ["run b", "run a"]  # the link's order
    assert settings.value.loc["test accuracy"].tolist() == ["90.00%", "70.00%"]
    assert settings.value.loc["seed"].tolist() == ["2", "1"]
    assert settings.value.loc["model"].tolist() == ["Softmax regression", "CNN 2 conv / 1 dense"]

    picker = at.session_state["compare_table"]["selection"]["rows"]
    listed = at.session_state["compare_listed_ids"]
    assert sorted(listed[i] for i in picker) == sorted([a.run_id, b.run_id])

    curves = next(c for c in charts(at) if '"run a"' in c.proto.spec)
    assert '"run b"' in curves.proto.spec and "best epoch" in curves.proto.spec
    assert [m.value for m in at.metric if m.label == "Test accuracy"] == ["90.00%", "70.00%"]
    assert any(b.label.startswith("Download the histories") for b in at.get("download_button"))

    at.toggle(key="compare_differences").set_value(True).run()
    settings = next(d for d in at.dataframe if "run id" in d.value.index)
    assert "dataset" not in settings.value.index and "seed" in settings.value.index

    at.radio(key="compare_x").set_value("seconds").run()
    assert_no_exception(at)
    assert any("wall-clock seconds" in c.proto.spec for c in charts(at))


def test_filters_narrow_the_table_but_keep_the_choice() -> None:
    mnist = finished_run(TrainConfig(name="on mnist"), [0.5])
    cifar = finished_run(TrainConfig(name="on cifar", dataset="cifar10"), [0.6])
    at = open_compare([mnist.run_id, cifar.run_id])
    at.multiselect(key="compare_datasets").set_value(["cifar10"]).run()
    listed = at.session_state["compare_listed_ids"]
    assert listed == [cifar.run_id]
    assert list(at.session_state["compare_table"]["selection"]["rows"]) == [0]
    assert "1 of them hidden by the filters" in texts(at)
    assert at.query_params["runs"] == f"{mnist.run_id},{cifar.run_id}"


def test_a_seed_group_shows_its_mean_and_std() -> None:
    group = [TrainConfig(name=f"net · seed {s}", seed=s, group="g-test") for s in (1, 2, 3)]
    folders = [finished_run(c, [0.5], correct=k) for c, k in zip(group, (80, 90, 85), strict=True)]
    at = open_compare([f.run_id for f in folders])
    groups = next(d for d in at.dataframe if "seed group" in d.value.columns)
    row = groups.value.iloc[0]
    assert row["seed group"] == "net (3 seeds)" and row["seeds"] == "1, 2, 3"
    assert row["test accuracy (mean ± std)"] == "85.00% ± 5.00% (n = 3)"
    curves = charts(at)[0]
    assert '"fill":"toself"' in curves.proto.spec.replace(" ", "")


def test_a_pair_shows_both_matrices_and_both_filter_banks() -> None:
    cnn = RunFolder(untrained_model_run(PRESETS[DEFAULT_PRESET], "cnn"))
    soft = RunFolder(untrained_model_run(ModelSpec(kind="softmax"), "soft"))
    for folder in (cnn, soft):
        add_evaluation(folder, 60, n_classes=10)
        folder.append_epoch(EpochRecord(1, seconds=1.0, val_accuracy=0.5, val_loss=1.0))
    at = open_compare([cnn.run_id, soft.run_id])
    keys = {c.proto.id for c in charts(at)}
    specs = " ".join(c.proto.spec for c in charts(at))
    assert len(keys) == 6  # curves, per-class bars, 2 confusion matrices, 2 filter banks
    assert "conv1, input channel 0" in specs and "Class templates" in specs
    assert "Per-class test accuracy" in specs and specs.count("predicted class") == 2


def test_compare_with_queues_the_same_split_and_seed_and_opens_the_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = finished_run(TrainConfig(name="base", seed=9, validation=0.2, train_subset=300), [0.5])
    launched = launches_without_a_worker(monkeypatch)
    at = open_compare([base.run_id])
    at.selectbox(key="compare_compare_choice").set_value("Softmax regression (baseline)")
    at.button(key="compare_compare_go").click().run()
    assert_no_exception(at)
    (partner,) = launched
    config = partner.read_config()
    assert (config.seed, config.validation, config.train_subset) == (9, 0.2, 300)
    assert config.model.kind == "softmax"
    assert at.query_params["runs"] == f"{base.run_id},{partner.run_id}"
    assert at.title[0].value == "Compare"


def test_train_page_offers_compare_with_for_a_finished_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = finished_run(TrainConfig(name="base", seed=4), [0.5])
    launched = launches_without_a_worker(monkeypatch)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    at.switch_page("pages/train.py").run()
    at.button(key="train_compare_go").click().run()
    assert_no_exception(at)
    assert at.title[0].value == "Compare"
    assert at.query_params["runs"] == f"{base.run_id},{launched[0].run_id}"
    assert launched[0].read_config().seed == 4


def test_repeat_over_seeds_queues_a_group_and_reports_a_full_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = finished_run(TrainConfig(name="base", seed=20), [0.5])
    launched: list[RunFolder] = []

    def launch(config: TrainConfig) -> tuple[RunFolder, bool]:
        if len(launched) == 2:
            raise UserError("8 runs are already waiting for a training slot")
        launched.append(create_run(config))
        return launched[-1], True

    monkeypatch.setattr(compare_actions, "launch_run", launch)
    at = open_compare([base.run_id])
    at.number_input(key="compare_seed_count").set_value(4)
    at.button(key="compare_seed_go").click().run()
    assert_no_exception(at)
    configs = [f.read_config() for f in launched]
    assert [c.seed for c in configs] == [20, 21] and len({c.group for c in configs}) == 1
    assert at.query_params["runs"] == ",".join(f.run_id for f in launched)
    assert "2 of 4 runs queued" in texts(at)


def test_a_broken_run_folder_leaves_the_page_working(isolated_store: Path) -> None:
    good = finished_run(TrainConfig(name="good"), [0.5])
    broken = isolated_store / "20260101-000000-broken"
    broken.mkdir()
    (broken / "status.json").write_text("garbage")
    at = open_compare([good.run_id, broken.name])
    settings = next(d for d in at.dataframe if "run id" in d.value.index)
    assert list(settings.value.columns) == ["good", broken.name]


def matrix_titles(at: AppTest) -> list[str]:
    """The titles of the confusion matrices shown, left to right."""
    import json

    specs = [json.loads(c.proto.spec) for c in charts(at) if "predicted class" in c.proto.spec]
    return [spec["layout"].get("title", {}).get("text", "") for spec in specs]


def test_each_confusion_matrix_is_titled_with_its_run_escaped() -> None:
    plain = finished_run(TrainConfig(name="plain cnn"), [0.5])
    tagged = finished_run(TrainConfig(name="<b>bold</b> & co", seed=2), [0.6])
    at = open_compare([plain.run_id, tagged.run_id])
    assert_no_exception(at)
    assert matrix_titles(at) == ["plain cnn", "&lt;b&gt;bold&lt;/b&gt; &amp; co"]


def test_the_settings_table_shows_the_pickers_labels() -> None:
    first = finished_run(TrainConfig(dataset="fashion_mnist", name="one"), [0.5])
    second = finished_run(TrainConfig(dataset="fashion_mnist", name="two", seed=3), [0.6])
    at = open_compare([first.run_id, second.run_id])
    table = next(f.value for f in at.dataframe if "one" in f.value.columns)
    assert table.loc["optimizer"].tolist() == ["Adam", "Adam"]
    assert table.loc["schedule"].tolist() == ["Cosine decay to 0"] * 2
    assert table.loc["dataset"].tolist() == ["Fashion-MNIST clothing"] * 2
    # The Train page's pickers read the same labels.
    train = open_with_query("pages/train.py")
    assert "Adam" in train.selectbox(key="train_optimizer").options
    assert "Cosine decay to 0" in train.selectbox(key="train_schedule").options


def test_vgg16_is_not_offered_without_its_weights_and_the_page_says_why() -> None:
    base = finished_run(TrainConfig(name="base"), [0.5])
    at = open_compare([base.run_id])
    assert_no_exception(at)
    options = at.selectbox(key="compare_compare_choice").options
    assert options and not [o for o in options if o.startswith("VGG16")]
    assert "Not offered: VGG16 feature extraction (ImageNet, 32 px)" in texts(at)
