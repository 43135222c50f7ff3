"""Sharing in a real browser: a deep link opens the linked run, the Runs page shows its
links and download buttons whole (900 and 1400 px wide); the Train page's exported
config trains headless; a bundle downloaded from the Runs page imports back.

Skipped, like the other browser tests, when Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnn_core.schema.config import PRESETS
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import list_runs
from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser
from tests.conftest import REPO
from tests.run_factory import untrained_model_run

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

FIRST_PAINT_MS = 120_000
SHOTS = Path(os.environ["CNN_SCREENSHOTS"]) if os.environ.get("CNN_SCREENSHOTS") else None


@pytest.fixture(scope="module")
def served_runs_with_two(served_runs: Path) -> tuple[str, str]:
    """Two runs named 'linked run' (older) and 'default run' in the served store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_RUNS_DIR", str(served_runs))
        spec = PRESETS["Softmax regression"]
        linked = untrained_model_run(spec, "linked run").name
        newest = untrained_model_run(spec, "default run").name
    return linked, newest


def open_home(page: Page, server: StreamlitServer, query: str = "") -> None:
    page.context.set_default_timeout(FIRST_PAINT_MS)
    page.goto(f"{server.url}/{query}")
    expect(page.get_by_role("heading", name="CNN Studio").first).to_be_visible()
    wait_until_idle(page)


def test_deep_link_opens_the_linked_run(
    page: Page, server: StreamlitServer, served_runs_with_two: tuple[str, str]
) -> None:
    linked, _ = served_runs_with_two
    open_home(page, server)  # the app's navigation is set up by a first run
    page.goto(f"{server.url}/predict?run={linked}&ws=keepme")
    expect(page.get_by_role("heading", name="Predict").first).to_be_visible()
    wait_until_idle(page, timeout_ms=FIRST_PAINT_MS)
    expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile("^linked run"))
    assert f"run={linked}" in page.url and "ws=keepme" in page.url


def test_unknown_link_is_a_message(
    page: Page, server: StreamlitServer, served_runs_with_two: tuple[str, str]
) -> None:
    open_home(page, server)
    page.goto(f"{server.url}/evaluate?run=no-such-run")
    expect(page.get_by_text("is not here")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_exported_config_trains_headless(
    page: Page, server: StreamlitServer, tmp_path: Path
) -> None:
    open_home(page, server)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    wait_until_idle(page, timeout_ms=FIRST_PAINT_MS)
    page.get_by_role("radio", name="Softmax regression").check(force=True)
    wait_until_idle(page)
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("1")
    epochs.press("Enter")
    wait_until_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export config (JSON)").click()
    config_file = tmp_path / "exported.json"
    download.value.save_as(config_file)
    exported = json.loads(config_file.read_text())["config"]
    assert exported["model"]["kind"] == "softmax" and exported["fit"]["epochs"] == 1
    store = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-m", "cnn_core.training.worker", "--config", str(config_file)]
        + ["--runs-dir", str(store)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = list_runs(store)
    assert run.state == RunState.COMPLETED and run.has_model and run.epochs_done == 1


def test_bundle_downloads_and_imports_back(
    page: Page,
    server: StreamlitServer,
    served_runs: Path,
    served_runs_with_two: tuple[str, str],
    tmp_path: Path,
) -> None:
    linked, _ = served_runs_with_two
    open_home(page, server)
    page.goto(f"{server.url}/runs?run={linked}")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    wait_until_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Whole run (bundle .zip)").click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    before = {r.run_id for r in list_runs(served_runs)}
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(bundle))
    wait_until_idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported as run")).to_be_visible()
    (new_id,) = {r.run_id for r in list_runs(served_runs)} - before
    imported = RunFolder(served_runs / new_id)
    assert imported.read_config() == RunFolder(served_runs / linked).read_config()
    assert imported.read_notes().imported_from == linked


CUT_SHORT = """link => [link, ...link.querySelectorAll('*')].some(
    e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')"""


@pytest.mark.parametrize("width", [900, 1400])
def test_the_runs_pages_links_and_downloads_show_their_whole_labels(
    page: Page,
    server: StreamlitServer,
    served_runs_with_two: tuple[str, str],
    tmp_path: Path,
    width: int,
) -> None:
    """No link or button label of a run's section is cut short ("M…", "W…" were seen
    on the download buttons at 900 px). A screenshot of it goes to tmp_path (and
    to $CNN_SCREENSHOTS when set)."""
    linked, _ = served_runs_with_two
    page.set_viewport_size({"width": width, "height": 1000})
    open_home(page, server)
    page.goto(f"{server.url}/runs?run={linked}")
    heading = page.get_by_role("heading", name="Manage a run")
    expect(heading).to_be_visible()
    wait_until_idle(page)
    links = page.get_by_test_id("stPageLink")
    expect(links.filter(has_text="Inside the CNN")).to_have_count(1)
    downloads = page.get_by_test_id("stDownloadButton")
    expect(downloads).to_have_count(2)
    buttons = page.get_by_test_id("stMain").get_by_test_id("stButton")  # TF Lite, Delete
    expect(buttons.filter(has_text="Convert to TensorFlow Lite")).to_have_count(1)
    heading.evaluate("heading => heading.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    for folder in filter(None, [tmp_path, SHOTS]):
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"runs_manage_{width}px.png"))
    labels = links.all_inner_texts() + downloads.all_inner_texts() + buttons.all_inner_texts()
    shown = links.all() + downloads.all() + buttons.all()
    cut = [label for label, item in zip(labels, shown, strict=True) if item.evaluate(CUT_SHORT)]
    assert not cut, f"labels cut short at {width} px: {cut} of {labels}"
