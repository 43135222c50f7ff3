"""AppTest for every page: renders, key widgets, messages for bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec, TrainConfig
from cnn_core.schema.records import EpochRecord, Progress, RunState
from cnn_core.store.folder import create_run
from cnn_core.store.processes import process_start_time
from cnn_core.store.runs import list_runs, load_run
from tests.apptest_support import launches_without_a_worker, open_app, texts
from tests.run_factory import make_run
from tests.waiting import wait_for


def test_home_lists_runs_and_survives_a_broken_one(isolated_store: Path) -> None:
    make_run(TrainConfig(name="finished one"), epochs=[EpochRecord(epoch=1, val_accuracy=0.91)])
    broken = isolated_store / "20260101-000000-broken"
    broken.mkdir()
    (broken / "status.json").write_text("garbage")
    at = open_app()
    assert "CNN Studio" in at.title[0].value
    frame = at.dataframe[0].value
    assert set(frame["name"]) >= {"finished one"}
    assert any("broken" in s for s in frame["status"])


def test_home_without_runs_says_how_to_start() -> None:
    at = open_app()
    assert "No runs yet" in texts(at)


def sidebar_and_home(monkeypatch: pytest.MonkeyPatch) -> tuple[dict, object]:
    """The pages app.py hands to `st.navigation` ({section: [StreamlitPage]}), and Home."""
    import streamlit as st

    given: dict = {}
    navigation = st.navigation

    def recording(pages, **options):  # noqa: ANN001, ANN202 - st.navigation's own signature
        given.update(pages)
        return navigation(pages, **options)

    monkeypatch.setattr(st, "navigation", recording)
    return given, open_app()


def test_home_cards_name_the_sidebars_pages_in_its_order(monkeypatch: pytest.MonkeyPatch) -> None:
    sidebar, at = sidebar_and_home(monkeypatch)
    listed = [page for pages in sidebar.values() for page in pages if page.url_path]  # not Home
    assert len(listed) >= 7, sidebar
    headings = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert headings == [f"#### {n} · {page.title}" for n, page in enumerate(listed, 1)]
    links = [link.proto for link in at.get("page_link")]
    assert [link.page for link in links] == [page.url_path for page in listed]
    assert [link.label for link in links] == [f"Open {page.title}" for page in listed]
    assert [link.icon for link in links] == [page.icon for page in listed]


def test_home_names_the_real_run_store_for_tensorboard(isolated_store: Path) -> None:
    make_run(TrainConfig(name="one"))
    at = open_app()
    assert f"tensorboard --logdir {isolated_store}" in texts(at)


def test_data_page_shows_splits_samples_and_distribution() -> None:
    at = open_app("pages/data.py")
    labels = {m.label: m.value for m in at.metric}
    assert labels == {"Training images": "540", "Validation images": "60", "Test images": "200"}
    assert len(at.get("imgs")) >= 30 or len(at.get("image")) >= 1
    at.selectbox(key="data_dataset").select("cifar10").run()
    labels = {m.label: m.value for m in at.metric}
    assert labels["Training images"] == "180"  # 200 synthetic CIFAR images, 10% held out


def test_data_page_refuses_an_absurd_validation_fraction() -> None:
    at = open_app("pages/data.py")
    at.number_input(key="data_val_fraction").set_value(0.9).run()
    assert any("validation fraction must be between 0.01 and 0.5" in e.value for e in at.error)


def test_missing_dataset_gives_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "empty"))
    at = open_app("pages/data.py")
    assert "not on this machine" in texts(at)
    assert any(b.label.startswith("Download") for b in at.button)


def test_train_page_has_its_widgets_and_a_summary() -> None:
    at = open_app("pages/train.py")
    for key in ("train_dataset", "train_preset", "train_optimizer", "train_schedule"):
        assert at.selectbox(key=key) is not None
    assert at.selectbox(key="train_schedule").value == "cosine"
    for key in ("train_lr", "train_batch", "train_epochs", "conv0_filters", "dense0_units"):
        assert at.number_input(key=key) is not None
    params = {m.label: m.value for m in at.metric}["Parameters"]
    # The default preset: conv 32, conv 64, dense 128 on 7x7x64, 10 outputs.
    expected = (9 * 32 + 32) + (9 * 32 * 64 + 64) + (3136 * 128 + 128) + (128 * 10 + 10)
    assert int(params.replace(",", "")) == expected
    assert not at.button(key="train_start").disabled


def test_the_untouched_train_form_launches_train_config_s_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The form restates no default: TrainConfig, its specs and the default preset
    give every starting value, so an untouched form asks for exactly TrainConfig()."""
    launched = launches_without_a_worker(monkeypatch)
    at = open_app("pages/train.py")
    at.button(key="train_start").click().run()
    assert [run.read_config() for run in launched] == [TrainConfig()]
    at.number_input(key="train_n_blocks").increment().run()  # a block added by hand
    at.number_input(key="train_n_dense").increment().run()
    at.number_input(key="train_seed").increment().run()  # not the same config twice
    at.button(key="train_start").click().run()
    model = launched[-1].read_config().model
    assert model.conv_blocks[-1] == ConvBlock() and model.dense_layers[-1] == DenseLayer()


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("conv0_filters", 0, "conv block 1 filters must be between 1 and 1024"),
        ("conv0_filters", 100_000, "conv block 1 filters must be between 1 and 1024"),
        ("train_batch", 0, "batch size must be between 1 and 4096"),
        ("conv1_kernel", 15, "conv block 2 kernel size must be at most the 14x14"),
        ("train_clipnorm", -1.0, "gradient clipping (clipnorm) must be between 0 and 100"),
        ("train_label_smoothing", 0.9, "label smoothing must be between 0 and 0.5"),
        ("train_label_smoothing", -0.1, "label smoothing must be between 0 and 0.5"),
    ],
)
def test_train_page_refuses_bad_values_and_creates_no_run(
    key: str, value: int, words: str, isolated_store: Path
) -> None:
    at = open_app("pages/train.py")
    at.number_input(key=key).set_value(value).run()
    assert any(words in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="train_start").disabled  # a browser cannot click it
    assert list_runs() == []


def test_gradient_clipping_starts_off_and_reaches_the_launched_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cnn_core.schema.config import OptimizerSpec
    from cnn_core.training import worker

    launched = []

    def launch(config):  # record the config instead of starting a worker
        launched.append(config)
        return create_run(config), True

    monkeypatch.setattr(worker, "launch_run", launch)
    at = open_app("pages/train.py")
    assert at.number_input(key="train_clipnorm").value == OptimizerSpec.clipnorm
    at.number_input(key="train_clipnorm").set_value(2.0).run()
    at.button(key="train_start").click().run()
    assert [c.optimizer.clipnorm for c in launched] == [2.0]


def test_presets_fill_the_layer_widgets() -> None:
    at = open_app("pages/train.py")
    at.selectbox(key="train_preset").select(
        "TF Deep MNIST: 5x5 conv 32 -> 5x5 conv 64 -> dense 1024 + dropout 0.5"
    ).run()
    assert at.number_input(key="conv0_kernel").value == 5
    assert at.number_input(key="conv1_filters").value == 64
    assert at.number_input(key="dense0_units").value == 1024


@pytest.mark.slow
def test_train_button_starts_a_run_and_the_page_follows_it() -> None:
    at = open_app("pages/train.py")
    at.radio(key="train_kind").set_value("softmax").run()
    at.number_input(key="train_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    (run,) = list_runs()
    assert run.config.model.kind == "softmax"
    assert at.selectbox(key="train_monitor_run").value == run.run_id
    wait_for(lambda: not load_run(run.path).active, timeout=120, what="the run")
    at.run()
    assert "Test accuracy" in texts(at)
    captions = [c.value for c in at.caption]
    assert any(
        c.startswith("Learning rate (cosine decay to 0) at the start of epoch 1: 0.001")
        for c in captions
    ), captions


def test_interrupted_run_is_shown_with_its_epochs() -> None:
    config = TrainConfig(model=ModelSpec(kind="cnn", conv_blocks=(ConvBlock(4, 3),)))
    epochs = [EpochRecord(epoch=1, loss=1.0, val_loss=1.1)]
    make_run(config, state=RunState.INTERRUPTED, epochs=epochs)
    at = open_app("pages/train.py")
    assert "Interrupted" in texts(at) and "1 epoch" in texts(at)


def test_stop_shows_stopping_at_once_and_the_worker_s_step() -> None:
    config = TrainConfig(model=ModelSpec(kind="cnn", conv_blocks=(ConvBlock(4, 3),)))
    folder = create_run(config)
    pid = os.getpid()  # a live process stands in for the worker
    folder.write_status(RunState.RUNNING, pid=pid, pid_start=process_start_time(pid))
    folder.write_progress(Progress(epoch=3, epochs=10, batch=0, batches=844, elapsed=60.0))
    at = open_app("pages/train.py")
    assert "Epoch 3/10 · batch 0/844" in [p.proto.text for p in at.get("progress")][0]
    at.button(key="train_stop").click().run()
    assert folder.stop_requested()
    assert "stopping…" in texts(at)
    (bar,) = at.get("progress")
    assert bar.proto.text.startswith("Stopping…")
    assert at.button(key="train_stop").disabled and at.button(key="train_stop").label == "Stopping…"
    folder.write_status(
        RunState.RUNNING, message="Stopping: evaluating the model so far on the test set…"
    )
    at.run()
    (bar,) = at.get("progress")
    assert bar.proto.text == "Stopping: evaluating the model so far on the test set…"


def test_a_stopped_run_says_its_last_epoch_was_cut_short() -> None:
    config = TrainConfig(model=ModelSpec(kind="cnn", conv_blocks=(ConvBlock(4, 3),)))
    epochs = [
        EpochRecord(epoch=1, loss=1.0, val_loss=1.1),
        EpochRecord(epoch=2, loss=3.0, partial=True, batches=1),
    ]
    make_run(config, state=RunState.STOPPED, epochs=epochs, train_seconds=5.0)
    at = open_app("pages/train.py")
    assert "Epoch 2 was cut short by Stop after 1 batch:" in texts(at)
    assert {m.label: m.value for m in at.metric}["Epochs"] == "1"
