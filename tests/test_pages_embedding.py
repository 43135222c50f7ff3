"""AppTest of Evaluate's embedding view and gallery links, and of Inside opened by a link."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.data.user.importer import import_server_folder
from cnn_core.data.user.options import ImageOptions
from cnn_core.data.user.store import load_user_dataset
from cnn_core.insight.embedding import Embedding, stratified_sample
from cnn_core.store.folder import RunFolder
from pages._shared import embedding_view
from tests.apptest_support import assert_no_exception, open_app, open_with_query, texts
from tests.image_folder_support import own_data_dir, shapes_folder
from tests.run_factory import copy_run, replace_model, tiny_trained_run


def embedding_spec(at: AppTest) -> dict:
    """The Plotly figure of the embedding chart, as sent to the browser."""
    charts = [c for c in at.get("plotly_chart") if "principal component" in c.proto.spec]
    assert len(charts) == 1, "no embedding chart"
    return json.loads(charts[0].proto.spec)


def shown_indices(spec: dict) -> list[int]:
    return sorted(int(point[0]) for trace in spec["data"] for point in trace["customdata"])


def page_links(at: AppTest) -> list[tuple[str, str]]:
    return [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]


def show_map(at: AppTest) -> AppTest:
    at.toggle(key="eval_embed_on").set_value(True).run()
    assert_no_exception(at)
    return at


def test_embedding_view_maps_a_stratified_sample_of_a_cnn_run(
    trained_run: Path, isolated_store: Path
) -> None:
    path = copy_run(trained_run, isolated_store)
    probs, y_true = RunFolder(path).read_predictions()
    at = open_app("pages/evaluate.py")
    assert not [c for c in at.get("plotly_chart") if "principal component" in c.proto.spec]
    show_map(at)
    spec = embedding_spec(at)
    expected = stratified_sample(y_true, 1000, seed=0)
    assert shown_indices(spec) == expected.tolist()
    wrong = {int(i) for i in np.flatnonzero(probs.argmax(axis=1) != y_true)}
    for trace in spec["data"]:
        for point, symbol in zip(trace["customdata"], trace["marker"]["symbol"], strict=True):
            assert (symbol == "x") == (int(point[0]) in wrong)
    assert f"{len(expected):,} test images" in texts(at)
    assert "Click a point" in texts(at)

    assert at.selectbox(key="eval_embed_sample").options == [f"all {len(y_true):,}"]
    at.selectbox(key="eval_embed_sample").set_value(500).run()
    assert_no_exception(at)
    assert shown_indices(embedding_spec(at)) == stratified_sample(y_true, 500).tolist()


def test_a_new_model_file_gets_a_new_map_not_the_cached_one(
    trained_run: Path, isolated_store: Path
) -> None:
    """The map is cached per model version: a model.keras saved over the run's (the
    stored predictions unchanged) must be mapped afresh, in the same session."""
    from cnn_core.models.cnn import build_model
    from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec

    path = copy_run(trained_run, isolated_store)
    at = show_map(open_app("pages/evaluate.py"))
    before = embedding_spec(at)
    assert "12 features each" not in texts(at)
    wider = ModelSpec(kind="cnn", conv_blocks=(ConvBlock(6, 3),), dense_layers=(DenseLayer(12),))
    replace_model(path, build_model(wider, (28, 28, 1), 10, seed=3))
    at.run()
    assert_no_exception(at)
    assert "12 features each" in texts(at)  # the new model's penultimate layer
    after = embedding_spec(at)
    assert shown_indices(after) == shown_indices(before)  # the same sample...
    coords = [(trace["x"], trace["y"]) for trace in after["data"]]
    assert coords != [(trace["x"], trace["y"]) for trace in before["data"]]  # ...placed anew


def test_the_sample_sizes_offered_fit_the_test_set() -> None:
    assert embedding_view.sample_choices(10_000) == [500, 1000, 2000]
    assert embedding_view.sample_choices(1_500) == [500, 1000, 2000]  # 2000: all of them
    assert embedding_view.sample_choices(29) == [500]  # one choice: all 29


def test_a_selection_on_the_map_lists_its_sampled_images_once_errors_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a click or lasso on the map sends (Plotly points with their customdata)
    becomes the test images shown beside it: each once, the errors first."""
    embedding = Embedding(
        indices=np.array([3, 8, 12, 20]),
        coords=np.zeros((4, 2), np.float32),
        explained=(0.5, 0.2),
        y_true=np.array([0, 1, 1, 2]),
        y_pred=np.array([0, 2, 1, 0]),  # test images 8 and 20 are errors
        features=16,
    )
    points = [{"customdata": [i, "x", "y"]} for i in (3, 12, 20, 12, 99)]  # 99: not sampled
    event = SimpleNamespace(selection=SimpleNamespace(points=points))
    monkeypatch.setattr(embedding_view.st, "session_state", {embedding_view.CHART: event})
    assert embedding_view.selected_indices(embedding) == [20, 3, 12]
    monkeypatch.setattr(embedding_view.st, "session_state", {})
    assert embedding_view.selected_indices(embedding) == []


def test_gallery_images_link_into_inside_on_their_test_image(
    trained_run: Path, isolated_store: Path
) -> None:
    path = copy_run(trained_run, isolated_store)
    probs, y_true = RunFolder(path).read_predictions()
    at = open_app("pages/evaluate.py")
    links = page_links(at)
    first_error = int(np.flatnonzero(probs.argmax(axis=1) != y_true)[0])
    assert ("inside", f"run={path.name}&image={first_error}") in links
    assert len(links) == len(at.get("image"))


def test_embedding_view_of_a_run_on_an_imported_image_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_store: Path
) -> None:
    data = own_data_dir(tmp_path, monkeypatch)
    shapes_folder(data, per_class=10, size=24)
    key = import_server_folder("shapes", "shapes", ImageOptions(side=32, validation=0.2))
    dataset = load_user_dataset(key)
    tiny_trained_run(dataset, epochs=0)  # untrained: some errors to mark
    at = open_app("pages/evaluate.py")
    show_map(at)
    spec = embedding_spec(at)
    assert shown_indices(spec) == list(range(len(dataset.y_test)))  # fewer than the sample
    names = {trace["name"].split(" (")[0] for trace in spec["data"]}
    assert names <= {"circle", "square", "triangle"} and names


def test_a_link_opens_inside_on_its_test_image_and_a_later_choice_stands(
    trained_run: Path, isolated_store: Path, synthetic_data_dir: Path
) -> None:
    path = copy_run(trained_run, isolated_store)
    at = open_with_query("pages/inside.py", run=path.name, image="17")
    assert at.number_input(key="inside_index").value == 17
    assert "test image #17" in at.get("image")[0].captions[0]
    at.number_input(key="inside_index").set_value(4).run()
    assert_no_exception(at)
    assert "test image #4" in at.get("image")[0].captions[0]
    assert at.query_params["image"] == "4"  # a copied link opens what is shown

    at.switch_page("pages/evaluate.py").run()  # a gallery link, later in the session
    at.query_params.update({"run": path.name, "image": "23"})
    at.switch_page("pages/inside.py").run()
    assert_no_exception(at)
    assert "test image #23" in at.get("image")[0].captions[0]


@pytest.mark.parametrize("bad", ["abc", "99999", "-3"])
def test_a_bad_image_in_the_link_says_so(bad: str, trained_run: Path, isolated_store: Path) -> None:
    path = copy_run(trained_run, isolated_store)
    at = open_with_query("pages/inside.py", run=path.name, image=bad)
    assert any(f"test image {bad!r} is not a test-image number" in w.value for w in at.warning)
    assert at.number_input(key="inside_index").value == 0
    assert "test image #0" in at.get("image")[0].captions[0]
