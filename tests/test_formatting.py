"""Human-readable texts: durations, rate lines, states, accuracies, run rows, class names."""

from __future__ import annotations

from cnn_core.insight.labels import format_duration, learning_rate_text
from cnn_core.schema.records import EpochRecord


def test_durations_read_naturally() -> None:
    assert format_duration(42.4) == "42 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3720) == "1 h 02 min"
    assert format_duration(None) == "?"
    assert format_duration(float("nan")) == "?"


def test_learning_rate_line_lists_each_epoch_of_a_short_run() -> None:
    history = [EpochRecord(1, learning_rate=0.001), EpochRecord(2, learning_rate=0.0005)]
    text = learning_rate_text(history, "cosine")
    assert text == "Learning rate (cosine decay to 0) at the start of epochs 1-2: 0.001, 0.0005"


def test_learning_rate_line_elides_the_middle_of_a_long_run() -> None:
    history = [EpochRecord(e, learning_rate=0.01 / e) for e in range(1, 11)]
    text = learning_rate_text(history, "plateau")
    assert text is not None
    assert text.endswith("epochs 1-10: 0.01, 0.005, 0.00333, …, 0.00111, 0.001")
    assert "(halved on plateau)" in text


def test_no_line_for_runs_recorded_without_rates() -> None:
    assert learning_rate_text([EpochRecord(1, loss=0.3)], "constant") is None
    assert learning_rate_text([], None) is None


def test_markdown_text_escapes_what_markdown_would_format() -> None:
    from cnn_core.insight.labels import markdown_text

    assert markdown_text("[x](http://evil)") == r"\[x\]\(http://evil\)"
    assert markdown_text("**bold** _it_ `code`") == r"\*\*bold\*\* \_it\_ \`code\`"
    assert markdown_text("cat") == "cat"  # plain names stay as they are


def test_states_are_badges_with_material_icons_and_plain_words_in_tables() -> None:
    from cnn_core.insight.labels import STATE_LABELS, state_badge
    from cnn_core.schema.records import RunState

    for state in RunState:
        badge = state_badge(state)
        assert ":material/" in badge and state.value in badge and badge.startswith(":")
        assert STATE_LABELS[state] == state.value  # tables and pickers draw no icons
        assert all(ord(ch) < 0x2000 for ch in badge + STATE_LABELS[state])  # no emoji


def test_accuracy_has_one_format_everywhere() -> None:
    from cnn_core.insight.labels import percent

    assert percent(0.806) == "80.60%" and percent(0.8998) == "89.98%"
    assert percent(None) == "–" and percent(float("nan")) == "–"


def test_run_rows_lead_with_the_name_and_keep_the_id_last(isolated_store) -> None:
    from cnn_core.insight.labels import run_row
    from cnn_core.schema.config import TrainConfig
    from cnn_core.store.folder import create_run
    from cnn_core.store.runs import load_run

    queued = load_run(create_run(TrainConfig(name="first")).path)
    row = run_row(queued)
    assert list(row)[:3] == ["name", "status", "test acc"] and list(row)[-1] == "run id"
    assert row["name"] == "first" and row["dataset"] == "MNIST handwritten digits"
    assert row["test acc"] is None and row["best val acc"] is None


def test_class_names_of_a_run_on_imported_images_are_its_folder_names(
    isolated_store, tmp_path, monkeypatch
) -> None:
    """Predict, Inside and Compare label outputs by these, also where the images are gone."""
    from cnn_core.data.user.importer import import_server_folder
    from cnn_core.data.user.options import ImageOptions
    from cnn_core.insight.labels import class_names
    from cnn_core.schema.config import TrainConfig
    from cnn_core.store import runs
    from cnn_core.store.folder import create_run
    from tests.image_folder_support import own_data_dir, shapes_folder

    data = own_data_dir(tmp_path, monkeypatch)
    shapes_folder(data, per_class=10, size=24)
    options = ImageOptions(side=32, validation=0.2)
    key = import_server_folder("shapes", "shapes", options)
    path = create_run(TrainConfig(dataset=key)).path
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "elsewhere"))  # a server without them
    run = runs.load_run(path)
    assert class_names(run, 3) == ["circle", "square", "triangle"]
    assert class_names(run, 4) == ["0", "1", "2", "3"]  # a model that does not fit the record
