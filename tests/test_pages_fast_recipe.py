"""The fast recipe and minutes to accuracy on the Train and Compare pages (AppTest)."""

from __future__ import annotations

from cnn_core.schema.config import DEFAULT_PRESET, PRESETS
from cnn_core.schema.recipes import default, fast
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.folder import create_run
from cnn_core.store.runs import list_runs
from pages._shared.fast_recipe import form_values
from tests.apptest_support import open_app, open_with_query

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


def test_form_values_cover_what_a_recipe_sets() -> None:
    values = form_values(fast("fashion_mnist"))
    assert values["train_preset"] == DEFAULT_PRESET and PRESETS[DEFAULT_PRESET].kind == "cnn"
    assert (values["train_batch"], values["train_lr"], values["train_epochs"]) == (256, 3e-3, 10)
    assert (values["train_schedule"], values["train_early"]) == ("cosine", False)
    assert (values["train_aug_flip"], values["train_aug_translation"]) == ("none", 0.0)


def test_the_fast_button_fills_the_form_and_the_estimate_names_the_recipe() -> None:
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select("fashion_mnist").run()
    button = at.button(key="train_fast_recipe")
    assert button.label == "Fast recipe"
    assert "The fast recipe for Fashion-MNIST" in button.help
    assert "Why each choice helps" in button.help and "No augmentation" in button.help
    assert "not measured on this dataset yet" in button.help  # the synthetic set: no figures
    (before,) = timer_captions(at)
    assert "The fast recipe" not in before and "all 10 epochs" in before
    at.number_input(key="train_lr").set_value(0.01).run()  # the person's own rate first
    at.selectbox(key="train_aug_flip").set_value("horizontal").run()  # and a flip
    button.click().run()
    assert at.number_input(key="train_batch").value == 256
    assert at.number_input(key="train_lr").value == 3e-3
    assert at.number_input(key="train_epochs").value == 10
    assert at.checkbox(key="train_early").value is False
    assert at.selectbox(key="train_aug_flip").value == "none"  # the recipe has none
    assert at.slider(key="train_aug_translation").value == 0.0
    assert at.number_input(key="dense0_dropout").value == 0.25  # the default network's layers
    (after,) = timer_captions(at)
    assert after.startswith(f"{TIMER} The fast recipe. Time to 92% validation accuracy")
    assert "all 10 epochs about" in after
    at.button(key="train_start").click().run()
    (run,) = list_runs()
    assert run.config.fit.batch_size == 256 and run.config.augment.flip == "none"


def test_a_measured_time_once_a_like_run_exists() -> None:
    finished_run(fast("mnist", seed=9), [0.97, 0.991, 0.992])  # 99% after 24 s
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select("mnist").run()
    at.button(key="train_fast_recipe").click().run()
    (caption,) = [c for c in timer_captions(at) if "all 10 epochs" in c]  # not the run's line
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
        for name, epochs in (("fast", 9), ("default", 3))
    }
    figures = {"measured": "2026-12-06", "datasets": {"fashion_mnist": recipes}}
    monkeypatch.setattr(fast_recipe, "load_figures", lambda: figures)
    at = open_app("pages/train.py")
    at.selectbox(key="train_dataset").select("fashion_mnist").run()
    assert not [b for b in at.button if b.key == "train_fast_recipe"]
    recipes["fast"]["epochs_to"]["0.920"] = 2  # measured faster: offered, with the figures
    at.run()
    (button,) = [b for b in at.button if b.key == "train_fast_recipe"]
    assert "Measured (2026-12-06)" in button.help
