"""cnn_core.insight.compare.chosen_runs and its figures: pairs, seed groups, table, overlay, CSV."""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cnn_core.base.errors import UserError
from cnn_core.charts.compare import (
    RUN_COLOURS,
    curves_overlay_figure,
    per_class_figure,
    run_colours,
)
from cnn_core.insight.compare import chosen_runs as compare
from cnn_core.insight.compare import curves, partners, seed_groups, side_by_side
from cnn_core.insight.run_filters import RunFilter
from cnn_core.models.plan import describe_model
from cnn_core.schema.config import PRESETS, ConvBlock, ModelSpec, TrainConfig
from cnn_core.schema.records import EpochRecord, Evaluation, PerClass, RunState
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.store.runs import RunSummary, list_runs, load_run
from tests import run_factory

SOFTMAX = ModelSpec(kind="softmax")


def make_run(
    config: TrainConfig,
    val_accuracies: list[float],
    seconds: float = 2.0,
    test_accuracy: float | None = None,
) -> RunSummary:
    """A finished run with these validation accuracies and, if given, a test result."""
    epochs = run_factory.val_history(val_accuracies, seconds)
    train_seconds = seconds * len(val_accuracies)
    folder = run_factory.make_run(config, epochs=epochs, train_seconds=train_seconds)
    if test_accuracy is not None:
        correct = round(100 * test_accuracy)
        evaluation = Evaluation(
            n=100,
            correct=correct,
            accuracy=correct / 100,
            loss=0.5,
            class_names=("a", "b"),
            confusion_matrix=((50, 0), (100 - correct, correct - 50)),
            per_class=PerClass((1.0, 1.0), (1.0, (correct - 50) / 50), (1.0, 1.0), (50, 50)),
        )
        folder.save_evaluation(evaluation, np.full((100, 2), 0.5), np.zeros(100, np.int64))
    return load_run(folder.path)


# -- one-click pairs ---------------------------------------------------------------------


def test_a_pair_shares_dataset_split_and_seed_with_another_model() -> None:
    config = TrainConfig(
        dataset="fashion_mnist", validation=0.2, train_subset=3000, seed=7, group="g1", name="cnn"
    )
    labels = partners.alternatives_for(config)
    assert "Softmax regression (baseline)" in labels
    assert "Studio default CNN" not in labels  # that is the run's own model
    partner = partners.paired_config(config, "Softmax regression (baseline)", "cnn")
    assert partner.model == SOFTMAX
    assert (partner.dataset, partner.validation, partner.train_subset, partner.seed) == (
        "fashion_mnist",
        0.2,
        3000,
        7,
    )
    assert partner.optimizer == config.optimizer and partner.fit == config.fit
    assert partner.group == "" and partner.name == "Softmax regression vs cnn"


def test_a_mixed_precision_runs_vgg16_partner_trains_in_float32_and_validates() -> None:
    from cnn_core.data.registry import dataset_info
    from cnn_core.schema.config import FitSpec, validate

    config = TrainConfig(dataset="cifar10", fit=FitSpec(label_smoothing=0.1, mixed_precision=True))
    info = dataset_info("cifar10")
    vgg = partners.paired_config(config, "VGG16 feature extraction (ImageNet, 32 px)", "fast")
    assert vgg.model.kind == "vgg16" and vgg.fit.mixed_precision is False
    assert vgg.fit.label_smoothing == 0.1  # what VGG16 can take is kept
    validate(vgg, info.image_shape, 1000)  # the worker would otherwise refuse it at launch
    cnn = partners.paired_config(config, "Softmax regression (baseline)", "fast")
    assert cnn.fit == config.fit


def test_a_run_on_imported_images_is_offered_partners_that_fit_its_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Imported datasets go through the one registry lookup too (they were skipped)."""
    from cnn_core.data.user.importer import import_server_folder
    from cnn_core.data.user.options import ImageOptions
    from tests.image_folder_support import own_data_dir, shapes_folder

    data = own_data_dir(tmp_path, monkeypatch)
    shapes_folder(data, per_class=10, size=24)
    options = ImageOptions(side=32, validation=0.2)
    key = import_server_folder("shapes", "shapes", options)
    config = TrainConfig(dataset=key, seed=5, name="shapes cnn")
    labels = partners.alternatives_for(config)
    assert "Softmax regression (baseline)" in labels
    partner = partners.paired_config(config, "Softmax regression (baseline)", "shapes cnn")
    assert (partner.dataset, partner.seed, partner.model) == (key, 5, SOFTMAX)
    gone = replace(config, dataset="my-not-on-this-server")
    assert partners.alternatives_for(gone) == []  # a partner could not train here


def test_every_alternative_keeps_the_split_whatever_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moved = {"moves the data": lambda c: replace(c, model=SOFTMAX, seed=1, validation=0.5)}
    monkeypatch.setattr(partners, "ALTERNATIVES", moved)
    partner = partners.paired_config(TrainConfig(seed=3, validation=0.1), "moves the data", "x")
    assert (partner.seed, partner.validation) == (3, 0.1)


def test_an_alternative_that_does_not_fit_the_images_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    huge = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 15, padding="valid"),) * 2)
    monkeypatch.setattr(partners, "ALTERNATIVES", {"huge": lambda c: replace(c, model=huge)})
    assert partners.alternatives_for(TrainConfig(model=SOFTMAX)) == []
    with pytest.raises(UserError, match="conv block 2 kernel size must be at most"):
        partners.paired_config(TrainConfig(model=SOFTMAX), "huge", "x")
    with pytest.raises(UserError, match="unknown model"):
        partners.paired_config(TrainConfig(), "no such model", "x")


# -- seed groups -------------------------------------------------------------------------


def test_a_seed_group_varies_only_the_seed() -> None:
    config = TrainConfig(seed=10, name="base")
    group = seed_groups.seed_group(config, 3, "g-test")
    assert [c.seed for c in group] == [10, 11, 12]
    assert {c.group for c in group} == {"g-test"}
    assert [c.name for c in group] == ["base · seed 10", "base · seed 11", "base · seed 12"]
    assert {replace(c, seed=0, name="") for c in group} == {
        replace(config, seed=0, name="", group="g-test")
    }
    assert seed_groups.seed_group(config, 2)[0].group.startswith("g")
    for bad in (1, 9, 2.5, True):
        with pytest.raises(UserError, match="2 to 8 runs"):
            seed_groups.seed_group(config, bad)


def test_launch_all_stops_at_a_full_queue_and_says_how_many_went() -> None:
    launched: list[TrainConfig] = []

    def launch(config: TrainConfig) -> tuple[RunFolder, bool]:
        if len(launched) == 2:
            raise UserError("8 runs are already waiting")
        launched.append(config)
        return create_run(config), True

    folders, problem = seed_groups.launch_all(seed_groups.seed_group(TrainConfig(), 4), launch)
    assert len(folders) == 2 and [f.read_config() for f in folders] == launched
    assert problem == "2 of 4 runs queued: 8 runs are already waiting"


def test_a_group_shows_mean_and_std_of_test_accuracy_and_curves() -> None:
    configs = seed_groups.seed_group(TrainConfig(name="net"), 3, "g-1")
    members = [
        make_run(configs[0], [0.5, 0.7], test_accuracy=0.80),
        make_run(configs[1], [0.6, 0.9], test_accuracy=0.90),
        make_run(configs[2], [0.4], test_accuracy=0.85),  # stopped early: one epoch
    ]
    loner = make_run(TrainConfig(group="g-2"), [0.5])
    (summary,) = seed_groups.group_summaries([loner, *reversed(members)])  # g-2: one member only
    assert summary.group == "g-1" and summary.seeds == [42, 43, 44]
    assert summary.label == "net (3 seeds)"
    assert summary.test_mean == pytest.approx(0.85)
    assert summary.test_std == pytest.approx(statistics.stdev([0.8, 0.9, 0.85]))
    assert summary.test_text() == "85.00% ± 5.00% (n = 3)"

    band = curves.group_curves("net", [m.read_history() for m in members])
    assert band.x == (1.0, 2.0)
    assert band.values["val_accuracy"] == pytest.approx((0.5, 0.8))
    assert band.spread["val_accuracy"] == pytest.approx((0.1, statistics.stdev([0.7, 0.9])))
    assert band.best_index == 1
    seconds = curves.group_curves("net", [m.read_history() for m in members], "seconds")
    assert seconds.x == (2.0, 4.0)


# -- URL, filters, table, CSV ------------------------------------------------------------


def test_run_ids_from_a_url_and_the_unknown_ones() -> None:
    a = make_run(TrainConfig(name="a"), [0.5])
    b = make_run(TrainConfig(name="b"), [0.6])
    ids = compare.parse_run_ids(f" {b.run_id}, ,{a.run_id},{b.run_id},../etc,nope")
    assert ids == [b.run_id, a.run_id, "../etc", "nope"]
    found, unknown = compare.resolve_runs(ids, list_runs())
    assert [r.run_id for r in found] == [b.run_id, a.run_id]
    assert unknown == ["../etc", "nope"]
    assert compare.parse_run_ids(None) == []


def test_filters_by_dataset_and_model() -> None:
    cnn = make_run(TrainConfig(dataset="mnist"), [0.5])
    soft = make_run(TrainConfig(dataset="mnist", model=SOFTMAX), [0.5])
    cifar = make_run(TrainConfig(dataset="cifar10"), [0.5])
    every = list_runs()
    assert {r.run_id for r in RunFilter().apply(every)} == {cnn.run_id, soft.run_id, cifar.run_id}
    mnist = RunFilter(datasets=frozenset({"mnist"}))
    assert {r.run_id for r in mnist.apply(every)} == {cnn.run_id, soft.run_id}
    only = RunFilter(frozenset({"mnist"}), frozenset({"Softmax regression"})).apply(every)
    assert [r.run_id for r in only] == [soft.run_id]


def test_the_table_puts_settings_and_results_side_by_side() -> None:
    cnn = make_run(TrainConfig(name="cnn", seed=1), [0.5, 0.8, 0.7], test_accuracy=0.75)
    soft = make_run(TrainConfig(name="soft", model=SOFTMAX, seed=1), [0.6], seconds=0.5)
    titles, table = side_by_side.comparison_table(
        [cnn, soft], [cnn.read_history(), soft.read_history()]
    )
    assert titles == ["cnn", "soft"]
    assert table["model"] == ["CNN 2 conv / 1 dense", "Softmax regression"]
    rows = describe_model(cnn.config.model, (28, 28, 1), 10)
    cnn_total = f"{sum(r.params for r in rows):,}"
    assert table["parameters"] == [cnn_total, "7,850"]  # softmax: 28 * 28 * 10 + 10
    assert table["trainable parameters"] == [cnn_total, "7,850"]
    assert table["epochs"] == ["3 of 10", "1 of 10"]
    assert table["seconds per epoch"] == ["2.0 s", "0.5 s"]
    assert table["total time"] == ["6 s", "0 s"]
    assert table["best validation accuracy"] == ["80.00%", "60.00%"]
    assert table["best epoch"] == ["2", "1"]
    assert table["test accuracy"] == ["75.00%", "–"]
    assert table["seed"] == ["1", "1"]

    differences = side_by_side.differences_only(table)
    assert "seed" not in differences and "dataset" not in differences
    assert {"run id", "model", "parameters", "test accuracy"} <= set(differences)
    assert differences["model"] == table["model"]


def test_a_run_without_config_still_gets_a_column(isolated_store: Path) -> None:
    good = make_run(TrainConfig(name="good"), [0.5])
    broken_path = isolated_store / "20260101-000000-broken"
    broken_path.mkdir()
    broken = load_run(broken_path)
    titles, table = side_by_side.comparison_table([good, broken], [good.read_history(), []])
    assert titles == ["good", broken.run_id]
    assert table["seed"] == ["42", "–"] and table["parameters"][1] == "?"


def test_same_names_get_unique_column_titles() -> None:
    assert side_by_side.unique_titles(["a", "b", "a", "a"]) == ["a", "b", "a (2)", "a (3)"]


def test_histories_download_as_one_csv() -> None:
    a = make_run(TrainConfig(name="a", seed=5), [0.5, 0.6], seconds=1.5)
    b = make_run(TrainConfig(name="b", group="g-x"), [0.7])
    rows = list(
        csv.DictReader(
            io.StringIO(side_by_side.histories_csv([a, b], [a.read_history(), b.read_history()]))
        )
    )
    assert [(r["run_id"], r["epoch"]) for r in rows] == [
        (a.run_id, "1"),
        (a.run_id, "2"),
        (b.run_id, "1"),
    ]
    assert [r["elapsed_seconds"] for r in rows] == ["1.5", "3.0", "2.0"]
    assert rows[1]["val_accuracy"] == "0.6" and rows[0]["seed"] == "5"
    assert rows[2]["group"] == "g-x" and rows[0]["learning_rate"] == ""


# -- curves and figures ------------------------------------------------------------------


def test_run_curves_against_epochs_and_seconds_mark_the_best_epoch() -> None:
    history = [
        EpochRecord(1, seconds=3.0, val_accuracy=0.5, val_loss=1.0),
        EpochRecord(2, seconds=4.0, val_accuracy=0.9, val_loss=0.5),
        EpochRecord(3, seconds=None, val_accuracy=0.8, val_loss=0.6),
    ]
    by_epoch = curves.run_curves("r", history)
    assert by_epoch.x == (1.0, 2.0, 3.0) and by_epoch.best_index == 1
    by_time = curves.run_curves("r", history, "seconds")
    assert by_time.x == (3.0, 7.0)  # the untimed epoch has no place on a time axis
    assert by_time.values["val_accuracy"] == (0.5, 0.9)
    with pytest.raises(ValueError, match="x_axis"):
        curves.run_curves("r", history, "minutes")
    assert curves.best_epoch([EpochRecord(1, val_loss=0.4), EpochRecord(2, val_loss=0.3)]) == 2
    assert curves.best_epoch([EpochRecord(1)]) is None


def test_overlay_draws_each_run_in_its_colour_with_its_best_epoch() -> None:
    a = curves.run_curves(
        "a",
        [
            EpochRecord(e, loss=1 / e, accuracy=0.5, val_loss=1 / e, val_accuracy=e / 10)
            for e in (1, 2, 3)
        ],
    )
    group = curves.group_curves(
        "g", [[EpochRecord(1, val_accuracy=0.4)], [EpochRecord(1, val_accuracy=0.6)]]
    )
    fig = curves_overlay_figure([a, group], ["#4c78a8", "#f58518"], "epoch")
    lines = [t for t in fig.data if t.mode and "lines" in t.mode and t.fill is None]
    assert {(t.name, t.line.color) for t in lines} == {("a", "#4c78a8"), ("g", "#f58518")}
    assert [t.name for t in fig.data if t.showlegend] == ["a", "g"]  # one legend entry per run
    stars = [t for t in fig.data if t.marker and t.marker.symbol == "star"]
    assert [(t.name, t.x[0], t.xaxis) for t in stars][:2] == [
        ("a: best epoch", 3.0, "x"),
        ("a: best epoch", 3.0, "x2"),
    ]
    assert stars[1].y[0] == pytest.approx(0.3)  # on the validation accuracy line
    bands = [t for t in fig.data if t.fill == "toself"]
    assert bands and all(t.legendgroup == "g" for t in bands)
    (accuracy_band,) = [t for t in bands if t.xaxis == "x2" and t.name == "g ± std"][:1]
    std = statistics.stdev([0.4, 0.6])
    assert max(accuracy_band.y) == pytest.approx(0.5 + std)
    assert min(accuracy_band.y) == pytest.approx(0.5 - std)
    assert fig.layout.xaxis.title.text == "epoch"
    assert curves_overlay_figure([a], ["#000000"], "seconds").layout.xaxis.title.text.startswith(
        "wall-clock"
    )
    with pytest.raises(ValueError):
        curves_overlay_figure([a], [], "epoch")


def test_run_colours_are_stable_and_distinct() -> None:
    ids = [f"20260101-00000{i}-mnist-cnn-ab{i}" for i in range(6)]
    colours = run_colours(ids)
    assert len(set(colours.values())) == 6 and set(colours.values()) <= set(RUN_COLOURS)
    assert run_colours(list(reversed(ids))) == colours  # the order chosen does not matter
    assert run_colours(ids[:1])[ids[0]] == run_colours([ids[0], "z"])[ids[0]]


def test_per_class_bars_side_by_side() -> None:
    fig = per_class_figure(["a", "b"], [(0.9, 0.5), (0.8, 0.7)], ["x", "y"], ["#111111", "#222222"])
    assert [t.name for t in fig.data] == ["x", "y"] and fig.layout.barmode == "group"
    assert list(fig.data[1].y) == [0.8, 0.7] and fig.data[0].marker.color == "#111111"
    with pytest.raises(ValueError, match="2 recalls for 3 classes"):
        per_class_figure(["a", "b", "c"], [(0.9, 0.5)], ["x"], ["#111111"])


def test_per_class_bars_label_every_class_even_digit_names() -> None:
    """MNIST's class names "0".."9" would make Plotly draw a numeric axis, ticked 0, 2, 4."""
    digits = [str(i) for i in range(10)]
    fig = per_class_figure(digits, [[0.5] * 10], ["x"], ["#111111"])
    assert fig.layout.xaxis.type == "category" and list(fig.data[0].x) == digits


def test_old_configs_without_a_group_still_load() -> None:
    data = TrainConfig().to_dict()
    del data["group"]
    assert TrainConfig.from_dict(data).group == ""
    assert PRESETS["Softmax regression"] == SOFTMAX


def imagenet_weights_here() -> None:
    """Put a file where the ImageNet weights go (only its presence is checked here)."""
    from cnn_core.models.vgg16_weights import imagenet_weights_path

    imagenet_weights_path().parent.mkdir(parents=True, exist_ok=True)
    imagenet_weights_path().write_bytes(b"not really weights")


VGG_CHOICES = {"VGG16 feature extraction (ImageNet, 32 px)", "VGG16 fine-tuned (ImageNet, 32 px)"}


def test_vgg16_choices_are_offered_only_with_their_weights_on_the_machine() -> None:
    config = TrainConfig(dataset="cifar10", name="scratch")
    assert not VGG_CHOICES & set(partners.alternatives_for(config))  # offline, none downloaded
    assert set(partners.alternatives_without_weights(config)) == VGG_CHOICES
    assert "Softmax regression (baseline)" in partners.alternatives_for(config)
    imagenet_weights_here()
    assert set(partners.alternatives_for(config)) >= VGG_CHOICES
    assert partners.alternatives_without_weights(config) == []


def test_a_scratch_cnn_pairs_with_vgg16_on_the_same_split_and_seed() -> None:
    imagenet_weights_here()
    config = TrainConfig(dataset="cifar10", validation=0.1, seed=3, name="scratch")
    labels = partners.alternatives_for(config)
    assert {
        "VGG16 feature extraction (ImageNet, 32 px)",
        "VGG16 fine-tuned (ImageNet, 32 px)",
    } <= set(labels)
    partner = partners.paired_config(config, "VGG16 fine-tuned (ImageNet, 32 px)", "scratch")
    assert partner.model.kind == "vgg16" and partner.model.vgg16.fine_tune
    assert partner.model.vgg16.weights == "imagenet"  # pretrained, never passed off
    assert (partner.dataset, partner.validation, partner.seed) == ("cifar10", 0.1, 3)


def test_a_two_phase_run_counts_both_phases_planned_epochs() -> None:
    from cnn_core.models.vgg16 import vgg16_spec
    from cnn_core.schema.config import FitSpec

    spec = vgg16_spec("fine_tune", 32, weights="none", fine_tune_epochs=1)
    config = TrainConfig(dataset="cifar10", model=spec, fit=FitSpec(epochs=1), name="vgg")
    run = make_run(config, [0.5, 0.6])  # one head epoch, one fine-tuning epoch
    _, table = side_by_side.comparison_table([run], [run.read_history()])
    assert table["epochs"] == ["2 of 2"]


def test_the_table_uses_the_pickers_labels_for_optimizer_schedule_and_dataset() -> None:
    from cnn_core.schema.config import OptimizerSpec

    adam = make_run(TrainConfig(dataset="fashion_mnist", name="a"), [0.5])
    sgd = TrainConfig(
        dataset="my-shoes", optimizer=OptimizerSpec("sgd", schedule="plateau"), name="b"
    )  # an imported dataset that is not on this machine
    other = make_run(sgd, [0.5])
    _, table = side_by_side.comparison_table([adam, other], [[], []])
    assert table["optimizer"] == ["Adam", "SGD with momentum"]
    assert table["schedule"] == ["Cosine decay to 0", "Halved on plateau"]
    assert table["gradient clipping (max norm)"] == ["off", "off"]
    from cnn_core.data.registry import dataset_title

    assert table["dataset"] == ["Fashion-MNIST clothing", dataset_title("my-shoes")]
    assert "shoes" in table["dataset"][1]  # the one lookup, never "?" or a KeyError


def test_gradient_clipping_is_one_row_under_the_train_forms_label() -> None:
    from cnn_core.insight.labels import CLIPNORM_LABEL
    from cnn_core.schema.config import OptimizerSpec

    plain = make_run(TrainConfig(name="a"), [0.5])
    clipped = make_run(TrainConfig(optimizer=OptimizerSpec(clipnorm=1.0), name="b"), [0.5])
    _, table = side_by_side.comparison_table([plain, clipped], [[], []])
    assert table[CLIPNORM_LABEL.lower()] == ["off", "1"]
    assert CLIPNORM_LABEL.lower() in side_by_side.differences_only(table)


def test_a_vgg16_run_says_where_its_weights_came_from() -> None:
    from cnn_core.insight.labels import model_label
    from cnn_core.models.vgg16 import vgg16_spec

    spec = vgg16_spec("feature_extraction", 32, weights="file", weights_file="/w/my_vgg16.h5")
    old = make_run(TrainConfig(dataset="cifar10", model=spec, name="old"), [0.5])
    recorded = create_run(TrainConfig(dataset="cifar10", model=spec, name="new"))
    recorded.write_status(RunState.COMPLETED, weights_source="my_vgg16.h5 · 58.9 MB · sha256 ab")
    new = load_run(recorded.path)
    imagenet = make_run(TrainConfig(dataset="cifar10", model=vgg16_spec("fine_tune")), [0.5])
    _, table = side_by_side.comparison_table([old, new, imagenet], [[], [], []])
    assert table["weights"] == [
        "my_vgg16.h5 (local file)",  # recorded before the source was kept: from its config
        "my_vgg16.h5 · 58.9 MB · sha256 ab",
        "ImageNet (Keras download)",
    ]
    assert model_label(old) == "VGG16 feature extraction, 32 px (weights: my_vgg16.h5)"
    assert table["model"][0] == model_label(old)


def test_the_listing_state_changes_as_a_run_moves_on() -> None:
    folder = create_run(TrainConfig(name="x"))
    folder.write_status(RunState.QUEUED)
    queued = compare.listing_state([load_run(folder.path)])
    folder.append_epoch(EpochRecord(1, seconds=1.0, loss=1.0, accuracy=0.5))
    folder.write_status(RunState.COMPLETED)
    finished = compare.listing_state([load_run(folder.path)])
    assert queued != finished
    assert finished == compare.listing_state([load_run(folder.path)])


def test_run_names_show_as_typed_in_the_legends() -> None:
    name = "<b>bold</b> & co"
    line = curves.run_curves(name, [EpochRecord(1, loss=1.0, val_accuracy=0.5)])
    fig = curves_overlay_figure([line], ["#4c78a8"], "epoch")
    assert {t.name for t in fig.data if t.showlegend} == {"&lt;b&gt;bold&lt;/b&gt; &amp; co"}
    assert all("<b>" not in (t.hovertemplate or "") for t in fig.data)
    bars = per_class_figure(["a"], [(0.9,)], [name], ["#111111"])
    assert bars.data[0].name == "&lt;b&gt;bold&lt;/b&gt; &amp; co"


# -- an epoch cut short by Stop -------------------------------------------------------

# Epoch 3 trained one batch before Stop: its loss is one batch's and (in old records)
# its validation accuracy was measured on what little changed. Neither is an epoch.
CUT_SHORT = [
    EpochRecord(1, seconds=3.0, loss=0.9, val_accuracy=0.70, val_loss=0.8),
    EpochRecord(2, seconds=3.0, loss=0.6, val_accuracy=0.80, val_loss=0.6),
    EpochRecord(3, seconds=0.1, loss=2.5, val_accuracy=0.85, val_loss=0.5, partial=True),
]


def test_a_partial_epoch_is_never_the_best_and_is_left_out_of_the_curves() -> None:
    assert curves.best_epoch(CUT_SHORT) == 2
    by_epoch = curves.run_curves("r", CUT_SHORT)
    assert by_epoch.x == (1.0, 2.0) and by_epoch.best_index == 1
    assert by_epoch.values["loss"] == (0.9, 0.6)
    assert curves.run_curves("r", CUT_SHORT, "seconds").x == (3.0, 6.0)
    group = curves.group_curves("g", [CUT_SHORT, CUT_SHORT[:2]])
    assert group.x == (1.0, 2.0) and group.best_index == 1
    fig = curves_overlay_figure([by_epoch], ["#000000"], "epoch")
    stars = [t for t in fig.data if t.marker and t.marker.symbol == "star"]
    assert stars and all(t.x[0] == 2.0 for t in stars)


def test_a_stopped_runs_column_counts_and_picks_whole_epochs(isolated_store: Path) -> None:
    folder = create_run(TrainConfig(model=SOFTMAX, fit=replace(TrainConfig().fit, epochs=10)))
    for record in CUT_SHORT:
        folder.append_epoch(record)
    folder.write_status(RunState.STOPPED, train_seconds=6.1)
    run = load_run(folder.path)
    assert run.epochs_done == 2 and run.best_val_accuracy == 0.80
    column = side_by_side.run_column(run, folder.read_history())
    assert column["epochs"] == "2 of 10" and column["best epoch"] == "2"
    assert column["seconds per epoch"] == "3.0 s"
