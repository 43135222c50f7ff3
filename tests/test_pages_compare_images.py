"""AppTest of Compare's "image by image" galleries: what each of two runs alone gets right."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from cnn_core.data.registry import load_dataset
from cnn_core.store.folder import RunFolder
from tests.apptest_support import open_with_query, texts
from tests.run_factory import copy_run, tiny_trained_run


def page_links(at: AppTest) -> list[tuple[str, str]]:
    return [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]


def test_compare_shows_what_each_of_two_runs_alone_gets_right(
    trained_run: Path, isolated_store: Path, synthetic_data_dir: Path
) -> None:
    trained = copy_run(trained_run, isolated_store)
    untrained = tiny_trained_run(load_dataset("mnist"), epochs=0, name="scratch")
    probs_a, y = RunFolder(trained).read_predictions()
    probs_b, _ = RunFolder(untrained).read_predictions()
    right_a, right_b = probs_a.argmax(axis=1) == y, probs_b.argmax(axis=1) == y
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    assert only_a  # the trained run gets some images the untrained one misses
    at = open_with_query("pages/compare.py", runs=f"{trained.name},{untrained.name}")
    shown = texts(at)
    assert f"Right by tiny, wrong by scratch: {only_a:,}**" in shown
    assert f"Right by scratch, wrong by tiny: {only_b:,}**" in shown
    links = [q for page, q in page_links(at) if page == "inside"]
    assert len(links) == min(only_a, 16) + min(only_b, 16)
    assert all(f"run={untrained.name}&" in q for q in links[: min(only_a, 16)])

    at.selectbox(key="compare_img_second").set_value(0).run()
    assert "Choose two different runs." in texts(at)


def test_compare_refuses_to_pair_runs_on_different_test_sets(
    trained_run: Path, isolated_store: Path
) -> None:
    first = copy_run(trained_run, isolated_store)
    second = copy_run(trained_run, isolated_store / "other")
    second = Path(shutil.move(second, isolated_store / (first.name[:-4] + "beef")))
    probs, y = RunFolder(second).read_predictions()
    np.savez(second / "predictions.npz", probs=probs, y_true=np.roll(y, 1))
    at = open_with_query("pages/compare.py", runs=f"{first.name},{second.name}")
    assert "evaluated on different test sets" in texts(at)
