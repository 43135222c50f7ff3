"""Minutes to accuracy: this machine's speed, recipes, the pre-launch estimate, the run line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cnn_core.data.registry import dataset_info
from cnn_core.insight import accuracy_estimate as ae
from cnn_core.insight.machine_speed import (
    BENCHMARK_SPEED,
    MachineSpeed,
    epoch_seconds,
    machine_speed,
    modelled_epoch_seconds,
)
from cnn_core.schema.config import (
    DEFAULT_PRESET,
    FAST_FP32_PRESET,
    FAST_PRESET,
    PRESETS,
    AugmentSpec,
    OptimizerSpec,
    TrainConfig,
)
from cnn_core.schema.recipes import (
    FAST_BF16,
    FAST_DATASETS,
    FAST_EPOCHS,
    FAST_FP32,
    default,
    fast,
    fast_name,
    fast_notes,
    matching_recipe,
    recipe,
    tutorial,
)
from cnn_core.schema.records import EpochRecord, RunNotes, RunState
from cnn_core.store.folder import create_run, run_folder
from cnn_core.store.runs import RunSummary, list_runs, load_run

FASHION = dataset_info("fashion_mnist")


def finished_run(
    config: TrainConfig,
    val_accuracies: list[float],
    seconds: list[float] | float = 10.0,
    n_train: int = 540,
    n_val: int = 60,
) -> RunSummary:
    """A completed run made by hand: timed epochs with these validation accuracies."""
    folder = create_run(config)
    times = seconds if isinstance(seconds, list) else [seconds] * len(val_accuracies)
    for epoch, (val, s) in enumerate(zip(val_accuracies, times, strict=True), start=1):
        folder.append_epoch(EpochRecord(epoch, seconds=s, val_accuracy=val, loss=0.5))
    folder.write_status(RunState.COMPLETED, n_train=n_train, n_val=n_val)
    return load_run(folder.path)


# -- recipes ---------------------------------------------------------------------------


def test_a_recipe_is_recognised_whatever_its_seed_and_name_but_not_once_changed() -> None:
    for name in ("tutorial", "default", FAST_BF16, FAST_FP32):
        config = replace(recipe(name, "fashion_mnist", seed=7), name="mine", group="g1")
        assert matching_recipe(config) == name
    faster = replace(fast("fashion_mnist"), optimizer=OptimizerSpec(learning_rate=0.01))
    assert matching_recipe(faster) is None
    assert matching_recipe(replace(default("mnist"), train_subset=1000)) is None


@pytest.mark.parametrize("native", [True, False], ids=["bfloat16 CPU", "other CPU"])
def test_the_fast_recipe_flips_clothes_and_pictures_but_not_digits(
    native: bool, pretend_bfloat16
) -> None:
    pretend_bfloat16(native)
    assert set(FAST_DATASETS) == {"mnist", "fashion_mnist", "cifar10"}
    recipes = {key: fast(key) for key in FAST_DATASETS}
    assert {key: r.augment.flip for key, r in recipes.items()} == {
        "mnist": "none",  # a mirrored 2 is no digit
        "fashion_mnist": "horizontal",
        "cifar10": "horizontal",
    }
    same = {replace(r, dataset="x", augment=AugmentSpec()) for r in recipes.values()}
    assert len(same) == 1  # otherwise one recipe
    (one,) = same
    assert (one.fit.batch_size, one.optimizer.learning_rate, one.fit.epochs) == (
        256,
        3e-3,
        FAST_EPOCHS,
    )
    assert (one.fit.label_smoothing, one.fit.early_stopping) == (0.1, False)
    # test-time flips exactly where training flips: a digit's mirror image is no digit
    assert {key: r.augment.mirror_average for key, r in recipes.items()} == {
        "mnist": False,
        "fashion_mnist": True,
        "cifar10": True,
    }
    # one note per choice: network, precision, batch, rate and schedule, smoothing, flips,
    # test-time flips
    assert len(fast_notes(fast_name())) == 7
    assert "Test-time flips" in fast_notes(fast_name())[-1]


def test_the_fast_recipe_trains_the_wide_net_in_bfloat16_only_where_the_cpu_computes_it(
    pretend_bfloat16,
) -> None:
    pretend_bfloat16(True)
    on_bf16 = fast("fashion_mnist")
    assert fast_name() == FAST_BF16 and "bfloat16 instructions" in fast_notes(FAST_BF16)[1]
    assert on_bf16.fit.mixed_precision and on_bf16.model == PRESETS[FAST_PRESET]
    pretend_bfloat16(False)
    elsewhere = fast("fashion_mnist")
    assert fast_name() == FAST_FP32 and "float32" in fast_notes(FAST_FP32)[0]
    assert not elsewhere.fit.mixed_precision and elsewhere.model == PRESETS[FAST_FP32_PRESET]
    # a thinner first convolution than the default's, the bfloat16 net's dense layer
    first, second = elsewhere.model.conv_blocks
    assert first.filters < PRESETS[DEFAULT_PRESET].conv_blocks[0].filters
    assert second == PRESETS[DEFAULT_PRESET].conv_blocks[1]
    assert elsewhere.model.dense_layers == on_bf16.model.dense_layers
    # the two variants differ in the network and its arithmetic only
    assert replace(elsewhere, model=on_bf16.model, fit=on_bf16.fit) == on_bf16
    assert replace(elsewhere.fit, mixed_precision=True) == on_bf16.fit


# -- this machine's speed --------------------------------------------------------------


def test_the_flop_model_agrees_with_the_measured_default_run() -> None:
    # bench_accuracy.py (benchmarks/README.md): 10 default epochs on full Fashion-MNIST, 292 s.
    modelled = 10 * modelled_epoch_seconds(default("fashion_mnist"), FASHION, 54_000, 6_000)
    assert 0.85 * 292 < modelled < 1.15 * 292


def test_a_bigger_batch_or_fewer_images_model_as_less_time() -> None:
    config = default("fashion_mnist")
    base = modelled_epoch_seconds(config, FASHION, 54_000, 6_000)
    bigger = replace(config, fit=replace(config.fit, batch_size=256))
    assert modelled_epoch_seconds(bigger, FASHION, 54_000, 6_000) < base
    assert modelled_epoch_seconds(config, FASHION, 5_400, 600) < base / 5


def test_mixed_precision_models_as_faster_only_on_a_cpu_with_bfloat16(pretend_bfloat16) -> None:
    config = default("fashion_mnist")
    mixed = replace(config, fit=replace(config.fit, mixed_precision=True))
    plain = modelled_epoch_seconds(config, FASHION, 54_000, 6_000)
    pretend_bfloat16(True)
    faster = modelled_epoch_seconds(mixed, FASHION, 54_000, 6_000)
    assert faster < plain / 1.5
    pretend_bfloat16(False)
    assert modelled_epoch_seconds(mixed, FASHION, 54_000, 6_000) == pytest.approx(plain)


def test_machine_speed_is_the_median_over_this_machines_runs_leaving_out_epoch_one() -> None:
    assert machine_speed([]) == BENCHMARK_SPEED
    config = default("fashion_mnist")
    modelled = modelled_epoch_seconds(config, FASHION, 540, 60)
    for factor in (1.0, 2.0, 4.0):  # epoch 1 is 100x slower: tracing, never counted
        finished_run(
            config, [0.5, 0.6, 0.7], [100 * modelled, factor * modelled, factor * modelled]
        )
    imported = finished_run(config, [0.5, 0.6], [1.0, 1000 * modelled])
    run_folder(imported.run_id).write_notes(RunNotes.create(imported_from="elsewhere"))
    speed = machine_speed(list_runs())
    assert speed.runs == 3
    assert speed.factor == pytest.approx(2.0)
    assert epoch_seconds(config, FASHION, 600, speed) == pytest.approx(2 * modelled)


def test_each_runs_speed_is_read_once_per_version_of_its_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = default("fashion_mnist")
    modelled = modelled_epoch_seconds(config, FASHION, 540, 60)
    run = finished_run(config, [0.5, 0.6, 0.7], [9.0, modelled, modelled])
    assert machine_speed([run]).factor == pytest.approx(1.0)
    reads: list[str] = []
    real = RunSummary.read_history

    def counted(self: RunSummary) -> list[EpochRecord]:
        reads.append(self.run_id)
        return real(self)

    monkeypatch.setattr(RunSummary, "read_history", counted)
    assert machine_speed([load_run(run.path)]).factor == pytest.approx(1.0)
    assert reads == []  # the same files: the ratio read before
    run_folder(run.run_id).append_epoch(EpochRecord(4, seconds=3 * modelled, loss=0.4))
    assert machine_speed([load_run(run.path)]).factor == pytest.approx(1.0)  # median of 1, 1, 3
    assert reads == [run.run_id]  # the log changed: read again


# -- the estimate before a launch ------------------------------------------------------


def test_runs_like_this_one_give_the_measured_median_time_to_the_target() -> None:
    config = fast("fashion_mnist", seed=1)
    finished_run(config, [0.85, 0.90, 0.921, 0.93])  # 92% after 30 s
    finished_run(replace(config, seed=2), [0.85, 0.90, 0.91, 0.915, 0.925])  # after 50 s
    other = replace(config, optimizer=replace(config.optimizer, learning_rate=0.01))
    finished_run(other, [0.95])  # another setup: not like this one
    found = list_runs()
    reach = ae.reach_for(config, FASHION, 600, found, BENCHMARK_SPEED, {})
    assert reach is not None
    assert (reach.seconds, reach.epoch, reach.runs, reach.reached) == (40.0, 4, 2, 2)
    text = ae.estimate(config, FASHION, 600, found, BENCHMARK_SPEED, {}).text()
    assert "about 40 s to 92% validation accuracy" in text
    assert "measured: 2 runs like this one on this machine" in text


def test_runs_that_never_reached_the_target_say_so_with_their_best() -> None:
    config = default("fashion_mnist")
    finished_run(config, [0.85, 0.905, 0.9])
    text = ae.estimate(config, FASHION, 600, list_runs(), BENCHMARK_SPEED, {}).text()
    assert "never reached 92% validation accuracy (best 90.5%" in text


def test_a_setup_nobody_measured_gets_its_total_time_and_no_invented_figure() -> None:
    config = replace(tutorial("fashion_mnist"), train_subset=2000)
    est = ae.estimate(config, FASHION, 60_000, [], BENCHMARK_SPEED, {})
    assert est.reach is None
    assert est.total_seconds == pytest.approx(
        10 * epoch_seconds(config, FASHION, 60_000, BENCHMARK_SPEED)
    )
    assert "not measured for this setup yet" in est.text()
    own = replace(config, dataset="my_shapes")
    assert (
        ae.estimate(own, FASHION, 600, [], BENCHMARK_SPEED, {})
        .text()
        .startswith("On this machine: all 10 epochs")
    )


def test_the_default_recipe_on_full_fashion_mnist_is_bounded_by_the_measured_run() -> None:
    config = default("fashion_mnist")
    reach = ae.reach_for(config, FASHION, 60_000, [], BENCHMARK_SPEED, {})
    assert reach is not None and reach.at_most and reach.epoch == 10
    assert reach.seconds == pytest.approx(
        10 * epoch_seconds(config, FASHION, 60_000, BENCHMARK_SPEED)
    )
    assert "at most about" in ae.estimate(config, FASHION, 60_000, [], BENCHMARK_SPEED, {}).text()
    # the bound holds for the full set only
    assert ae.reach_for(config, FASHION, 6_000, [], BENCHMARK_SPEED, {}) is None


def figures_file(tmp_path: Path, epochs: float, n_images: int = 60_000) -> Path:
    path = tmp_path / "figures.json"
    entry = {"n_images": n_images, "epochs_to": {"0.920": epochs}}
    figures = {
        "schema_version": ae.FIGURES_VERSION,
        "measured": "2026-12-06",
        "datasets": {"fashion_mnist": {fast_name(): entry}},
    }
    path.write_text(json.dumps(figures))
    return path


def test_stored_benchmark_figures_count_epochs_at_this_machines_speed(tmp_path: Path) -> None:
    figures = ae.load_figures(figures_file(tmp_path, 4))
    config = fast("fashion_mnist", seed=3)
    slow = MachineSpeed(factor=2.0, runs=3)
    reach = ae.reach_for(config, FASHION, 60_000, [], slow, figures)
    assert reach is not None and not reach.at_most and reach.runs == 0
    assert reach.seconds == pytest.approx(4 * epoch_seconds(config, FASHION, 60_000, slow))
    assert (
        "bench_time_to_accuracy.py, 2026-12-06"
        in ae.Estimate(15, 1.0, False, slow, 0.92, reach).text()
    )
    assert ae.reach_for(config, FASHION, 6_000, [], slow, figures) is None  # other data size


def test_missing_or_broken_figures_are_no_figures(tmp_path: Path) -> None:
    assert ae.load_figures(tmp_path / "absent.json") == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert ae.load_figures(tmp_path / "bad.json") == {}
    (tmp_path / "old.json").write_text(json.dumps({"schema_version": 0, "datasets": {}}))
    assert ae.load_figures(tmp_path / "old.json") == {}


# -- the line under a finished run -----------------------------------------------------


def test_a_finished_run_says_when_it_reached_the_target_and_the_fast_recipes_time() -> None:
    run = finished_run(default("fashion_mnist"), [0.88, 0.925, 0.93], 20.0)
    text = ae.run_reach_text(run, list_runs(), BENCHMARK_SPEED, {})
    assert text.startswith("Reached 92% validation accuracy after 40 s of training (epoch 2)")
    assert text.endswith("the fast recipe: not measured on this split here yet")
    finished_run(fast("fashion_mnist", seed=5), [0.921], 15.0)
    text = ae.run_reach_text(run, list_runs(), BENCHMARK_SPEED, {})
    assert "the fast recipe: about 15 s to 92% validation accuracy (measured: 1 run of it" in text


def test_a_run_that_missed_the_target_gives_its_best_and_own_datasets_get_no_line() -> None:
    run = finished_run(default("fashion_mnist"), [0.88, 0.9], 20.0)
    text = ae.run_reach_text(run, [run], BENCHMARK_SPEED, {})
    assert text.startswith("Did not reach 92% validation accuracy (best 90.0%)")
    own = finished_run(replace(default("fashion_mnist"), dataset="my_shapes"), [0.99])
    assert ae.run_reach_text(own, [own], BENCHMARK_SPEED, {}) is None


def test_the_benchmark_stores_epochs_that_every_run_reached_and_the_app_reads_them(
    tmp_path: Path,
) -> None:
    logs = [
        [EpochRecord(e, seconds=5.0, val_accuracy=a) for e, a in enumerate(accs, start=1)]
        for accs in ([0.90, 0.915, 0.93], [0.905, 0.92, 0.925], [0.91, 0.921, 0.94])
    ]
    entry = ae.figures_entry(logs, 60_000)
    assert entry["runs"] == 3 and entry["n_images"] == 60_000
    assert entry["epochs_to"]["0.900"] == 1
    assert entry["epochs_to"]["0.920"] == 2  # epochs 3, 2, 2
    assert "0.940" not in entry["epochs_to"]  # one run of three: no figure
    path = tmp_path / "figures.json"
    path.write_text(json.dumps({"schema_version": ae.FIGURES_VERSION, "datasets": {"mnist": {}}}))
    ae.save_figures("fashion_mnist", {fast_name(): entry}, {"measured": "2026-12-07"}, path)
    figures = ae.load_figures(path)
    assert "mnist" in figures["datasets"]  # other datasets' figures are kept
    reach = ae.reach_for(fast("fashion_mnist"), FASHION, 60_000, [], BENCHMARK_SPEED, figures)
    assert reach is not None and reach.epoch == 2 and "2026-12-07" in reach.source
    # a later measurement of another recipe (on another machine) keeps this one's date
    ae.save_figures("fashion_mnist", {"default": entry}, {"measured": "2026-12-09"}, path)
    figures = ae.load_figures(path)
    assert figures["measured"] == "2026-12-09"
    reach = ae.reach_for(fast("fashion_mnist"), FASHION, 60_000, [], BENCHMARK_SPEED, figures)
    assert reach is not None and "2026-12-07" in reach.source


def both_recipes_figures(tmp_path: Path, fast_epochs: float, default_epochs: float) -> dict:
    path = tmp_path / "both.json"
    entry = lambda epochs: {"n_images": 60_000, "epochs_to": {"0.920": epochs}}  # noqa: E731
    figures = {
        "schema_version": ae.FIGURES_VERSION,
        "measured": "2026-12-06",
        "datasets": {
            "fashion_mnist": {fast_name(): entry(fast_epochs), "default": entry(default_epochs)}
        },
    }
    path.write_text(json.dumps(figures))
    return ae.load_figures(path)


@pytest.mark.parametrize("native", [True, False], ids=["bfloat16 CPU", "other CPU"])
def test_the_fast_recipe_is_not_offered_where_it_was_measured_slower(
    tmp_path: Path, native: bool, pretend_bfloat16
) -> None:
    pretend_bfloat16(native)  # either variant runs an epoch faster than the default
    fast_epoch = epoch_seconds(fast("fashion_mnist"), FASHION, 60_000, BENCHMARK_SPEED)
    default_epoch = epoch_seconds(default("fashion_mnist"), FASHION, 60_000, BENCHMARK_SPEED)
    assert fast_epoch < default_epoch  # batch 256 (and bfloat16 where it is native)
    quicker = both_recipes_figures(tmp_path, fast_epochs=6, default_epochs=7)
    standing = ae.fast_standing(FASHION, 60_000, BENCHMARK_SPEED, quicker)
    assert standing.offered
    assert "Measured (2026-12-06)" in standing.text and "92% validation accuracy" in standing.text
    # as many epochs as the default takes, each cheaper: still faster
    assert ae.fast_standing(
        FASHION, 60_000, BENCHMARK_SPEED, both_recipes_figures(tmp_path, 7, 7)
    ).offered
    slower = both_recipes_figures(tmp_path, fast_epochs=10, default_epochs=4)
    assert not ae.fast_standing(FASHION, 60_000, BENCHMARK_SPEED, slower).offered
    unmeasured = ae.fast_standing(FASHION, 60_000, BENCHMARK_SPEED, {})
    assert unmeasured.offered and "not measured on this dataset yet" in unmeasured.text
