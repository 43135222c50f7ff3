"""The fast recipe, its settings of its own (label smoothing, mixed precision) and minutes
to accuracy on the Train and Compare pages (AppTest)."""

from __future__ import annotations

import pytest

from cnn_core.schema.config import FAST_FP32_PRESET, FAST_PRESET
from cnn_core.schema.recipes import FAST_EPOCHS, default, fast, fast_name
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.folder import create_run
from cnn_core.store.runs import list_runs
from pages._shared.fast_recipe import form_values
from tests.apptest_support import launches_without_a_worker, open_app, open_with_query

TIMER = ":material/timer:"


def finished_run(config, val_accuracies: list[float], seconds: float = 12.0) -> str:
    """A completed run made by hand on the synthetic data's split (540 + 60 images)."""
    folder = create_run(config)
    for epoch, val in enumerate(val_accuracies, start=1):
        folder.append_epoch(EpochRecord(epoch, seconds=seconds, val_accuracy=val, loss=0.5))
    folder.write_status(RunState.COMPLETED, n_train=540, n_val=60, train_seconds=30.0)
    return folder.run_id


def timer_captions(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith(TIMER)]


BFLOAT16 = pytest.mark.parametrize("native", [True, False], ids=["bfloat16 CPU", "other CPU"])


@BFLOAT16
def test_form_values_cover_what_a_recipe_sets(native: bool, pretend_bfloat16) -> None:
    pretend_bfloat16(native)
    values = form_values(fast("fashion_mnist"))
    assert values["train_preset"] == (FAST_PRESET if native else FAST_FP32_PRESET)
    assert (values["train_batch"], values["train_lr"], values["train_epochs"]) == (
        256,
        3e-3,
        FAST_EPOCHS,
    )
    assert (values["train_schedule"], values["train_early"]) == ("cosine", False)
    assert (values["train_aug_flip"], values["train_aug_translation"]) == ("horizontal", 0.0)
    assert values["train_label_smoothing"] == 0.1
    assert values["train_mixed_precision"] is native
    assert values["train_aug_mirror"] is True
    assert form_values(fast("mnist"))["train_aug_flip"] == "none"
    assert form_values(fast("mnist"))["train_aug_mirror"] is False


@BFLOAT16
def test_the_fast_button_fills_the_form_and_the_estimate_names_the_recipe(
    native: bool, pretend_bfloat16
) -> None:
    pretend_bfloat16(native)
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select("fashion_mnist").run()
    button = at.button(key="train_fast_recipe")
    assert button.label == "Fast recipe"
    assert "The fast recipe for Fashion-MNIST" in button.help
    assert "Why it is fast" in button.help  # the reasons are in that panel, not the tooltip
    notes = "\n".join(m.value for m in at.markdown)
    assert "Why each choice helps" in notes and "Label smoothing 0.1" in notes
    assert ("as this CPU has bfloat16" in notes) is native
    assert ("this CPU has no bfloat16" in notes) is not native
    assert "not measured on this dataset yet" in button.help  # the synthetic set: no figures
    (before,) = timer_captions(at)
    assert "The fast recipe" not in before and "all 10 epochs" in before
    at.number_input(key="train_lr").set_value(0.01).run()  # the person's own rate first
    at.slider(key="train_aug_translation").set_value(0.2).run()  # and shifts
    button.click().run()
    assert at.number_input(key="train_batch").value == 256
    assert at.number_input(key="train_lr").value == 3e-3
    assert at.number_input(key="train_epochs").value == FAST_EPOCHS
    assert at.number_input(key="train_label_smoothing").value == 0.1
    assert at.checkbox(key="train_mixed_precision").value is native
    assert at.checkbox(key="train_early").value is False
    assert at.selectbox(key="train_aug_flip").value == "horizontal"  # clothes mirror
    assert at.checkbox(key="train_aug_mirror").value is True  # and predict with mirrors
    assert at.slider(key="train_aug_translation").value == 0.0  # the recipe has no shifts
    # the variant's network's layers
    assert at.number_input(key="conv0_filters").value == (48 if native else 16)
    assert at.number_input(key="conv1_filters").value == (96 if native else 64)
    assert at.number_input(key="dense0_units").value == 256  # both variants' dense layer
    assert at.number_input(key="dense0_dropout").value == 0.4
    (after,) = timer_captions(at)
    assert after.startswith(f"{TIMER} The fast recipe. Time to 92% validation accuracy")
    assert f"all {FAST_EPOCHS} epochs about" in after
    at.button(key="train_start").click().run()
    (run,) = list_runs()
    assert run.config.fit.batch_size == 256 and run.config.augment.flip == "horizontal"
    assert run.config.augment == fast("fashion_mnist").augment  # test-time flips included
    assert run.config.fit == fast("fashion_mnist").fit  # smoothing and precision included
    assert run.config.model == fast("fashion_mnist").model


@BFLOAT16
def test_mixed_precision_warns_where_the_cpu_would_emulate_it(
    native: bool, pretend_bfloat16, monkeypatch
) -> None:
    pretend_bfloat16(native)
    launched = launches_without_a_worker(monkeypatch)
    at = open_app("pages/train.py")
    warning = "no bfloat16 instructions: mixed precision trains slower here"
    assert not [c for c in at.caption if warning in c.value]
    at.checkbox(key="train_mixed_precision").check().run()
    assert bool([c for c in at.caption if warning in c.value]) is not native
    assert ("This machine's CPU has them." in at.checkbox(key="train_mixed_precision").help) is (
        native
    )
    at.number_input(key="train_label_smoothing").set_value(0.2).run()
    at.button(key="train_start").click().run()
    (run,) = launched
    fit = run.read_config().fit
    assert fit.mixed_precision and fit.label_smoothing == 0.2
    at.radio(key="train_kind").set_value("vgg16").run()  # VGG16 trains in float32
    assert not [c for c in at.checkbox if c.key == "train_mixed_precision"]


def test_a_measured_time_once_a_like_run_exists() -> None:
    finished_run(fast("mnist", seed=9), [0.97, 0.991, 0.992])  # 99% after 24 s
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select("mnist").run()
    at.button(key="train_fast_recipe").click().run()
    (caption,) = [
        c for c in timer_captions(at) if f"all {FAST_EPOCHS} epochs" in c
    ]  # not the run's line
    assert "about 24 s to 99% validation accuracy" in caption
    assert "measured: 1 run like this one on this machine" in caption


def test_softmax_gets_no_estimate() -> None:
    at = open_app("pages/train.py")
    at.radio(key="train_kind").set_value("softmax").run()
    assert timer_captions(at) == []


def test_finished_view_and_compare_say_when_the_target_was_reached() -> None:
    first = finished_run(default("fashion_mnist"), [0.9, 0.93], 12.0)
    second = finished_run(fast("fashion_mnist"), [0.89, 0.91, 0.925], 8.0)
    at = open_app("pages/train.py")
    at.selectbox(key="train_monitor_run").set_value(first).run()
    lines = timer_captions(at)
    assert any(
        line.startswith(f"{TIMER} Reached 92% validation accuracy after 24 s of training (epoch 2)")
        and "the fast recipe: about 24 s to 92%" in line
        for line in lines
    ), lines
    at = open_with_query("pages/compare.py", runs=f"{first},{second}")
    lines = timer_captions(at)
    assert len(lines) == 2, lines
    assert any("after 24 s of training (epoch 3)" in line for line in lines), lines


def test_a_fast_recipe_measured_slower_than_the_default_is_not_offered(monkeypatch) -> None:
    from cnn_core.data.registry import load_dataset
    from pages._shared import fast_recipe

    n_images = len(load_dataset("fashion_mnist").y_train)  # the tests' synthetic set
    recipes = {
        name: {"n_images": n_images, "epochs_to": {"0.920": epochs}}
        for name, epochs in ((fast_name(), 9), ("default", 3))
    }
    figures = {"measured": "2026-12-06", "datasets": {"fashion_mnist": recipes}}
    monkeypatch.setattr(fast_recipe, "load_figures", lambda: figures)
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select("fashion_mnist").run()
    assert not [b for b in at.button if b.key == "train_fast_recipe"]
    recipes[fast_name()]["epochs_to"]["0.920"] = 2  # measured faster: offered, with the figures
    at.run()
    (button,) = [b for b in at.button if b.key == "train_fast_recipe"]
    assert "Measured (2026-12-06)" in button.help
