"""Shared fixtures: every test gets its own run store and generated datasets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import launch_browser, skip_unless_browser
from tests.synthetic import write_all

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN_DATA_DIR with small MNIST, Fashion-MNIST and CIFAR-10 look-alikes."""
    return write_all(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True)
def isolated_store(
    tmp_path: Path, synthetic_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point the run store, the data lookup and Keras' cache at test folders."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("CNN_RUNS_DIR", str(runs))
    monkeypatch.setenv("CNN_DATA_DIR", str(synthetic_data_dir))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return runs


@pytest.fixture
def shared_mnist() -> Path:
    """The real MNIST files in ../shared/data (skips when absent, e.g. a fresh clone)."""
    folder = SHARED_DATA / "mnist"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found at {folder}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per browser-test module (each test opens its own context)."""
    skip_unless_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
