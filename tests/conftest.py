"""Shared fixtures: every test gets its own run store and generated datasets.

Browser tests get one Chromium (`browser`) and one served app (`server`) per
module, and a fresh tab per test (`page`). A module changes what is served by
overriding `served_env` (extra environment); `served_runs` is the served app's
run store, which a module may fill before its tests open pages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.app_server import StreamlitServer, app_environment
from scripts.browser import chromium
from scripts.synthetic_data import write_all
from tests.browser_support import browser_tab, skip_unless_browser

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
def pretend_bfloat16(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Call with True or False: from then on, this test's CPU has (or lacks) bfloat16
    instructions, for the fast recipe's variant, the time model and the Train page."""
    from cnn_core.base import cpu
    from cnn_core.insight import machine_speed
    from cnn_core.schema import recipes

    def pretend(native: bool) -> None:
        for module in (cpu, machine_speed, recipes):
            monkeypatch.setattr(module, "has_bfloat16", lambda: native)

    return pretend


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> Path:
    """One evaluated tiny CNN ("tiny") on synthetic MNIST, made once per module; copy it
    into a test's store with `tests.run_factory.copy_run`."""
    from cnn_core.data.registry import load_dataset
    from tests.run_factory import tiny_trained_run

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_DATA_DIR", str(synthetic_data_dir))
        dataset = load_dataset("mnist")
    return tiny_trained_run(dataset, root=tmp_path_factory.mktemp("evaluated_runs"))


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
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def served_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served app's scratch folder: its run store and Keras cache."""
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
def served_runs(served_root: Path) -> Path:
    """The served app's run store (`CNN_RUNS_DIR`)."""
    return served_root / "runs"


@pytest.fixture(scope="module")
def served_env() -> dict[str, str]:
    """Extra environment for the served app; override it in a module to change it."""
    return {}


@pytest.fixture(scope="module")
def server(
    served_root: Path, served_env: dict[str, str], synthetic_data_dir: Path
) -> Iterator[StreamlitServer]:
    """`streamlit run app.py` for one module, on the synthetic datasets and its own store."""
    env = app_environment(served_root, synthetic_data_dir, **served_env)
    with StreamlitServer("app.py", env) as running:
        yield running


@pytest.fixture
def page(
    browser: Any, server: StreamlitServer, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Any]:
    """A tab in a fresh browser session (new Streamlit session state), not yet opened.

    On failure it saves a screenshot in the test's tmp_path and prints the server's output.
    """
    with browser_tab(browser, request, tmp_path, server) as tab:
        yield tab
