"""The learning-rate finder in a real browser: start, progress, curve, "Use this rate"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnn_core.store.folder import LrTestFolder
from cnn_core.store.lr_tests import list_lr_tests
from cnn_core.training.lr_finder import read_result
from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

from tests.test_browser import open_page, set_number  # noqa: E402

FINDER_TIMEOUT_MS = 180_000
SHOTS = os.environ.get("CNN_SCREENSHOT_DIR")  # where to keep the screenshot, if anywhere


def test_the_finder_draws_its_curve_and_fills_the_rate(
    page: Page, server: StreamlitServer, served_runs: Path, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    open_page(page, f"{server.url}/train", "Train")
    set_number(page, "Batch size", 9)  # 540 training images: 60 batches
    page.get_by_test_id("stExpander").first.locator("summary").click()  # closed until used
    finder = page.locator(".st-key-lrfind_start button")
    expect(page.get_by_text("at most 60 batches of 9 images")).to_be_visible()
    wait_until_idle(page)  # a click during the batch size's rerun can be lost with it
    finder.click()
    use = page.locator(".st-key-lrfind_use button")
    expect(use).to_be_visible(timeout=FINDER_TIMEOUT_MS)
    wait_until_idle(page)
    chart = page.locator('.st-key-lrfind_chart [data-testid="stPlotlyChart"] .js-plotly-plot')
    expect(chart).to_be_visible()
    axis = page.evaluate(
        "() => document.querySelector('.st-key-lrfind_chart .js-plotly-plot').layout.xaxis.type"
    )
    assert axis == "log"
    shot = Path(SHOTS) if SHOTS else tmp_path
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(shot / "train_lr_finder.png"))
    page.get_by_test_id("stExpander").first.screenshot(path=str(shot / "lr_finder_panel.png"))

    (test,) = list_lr_tests(served_runs.resolve())
    result = read_result(LrTestFolder(test.path))
    assert result is not None and result.suggestion is not None
    use.click()
    wait_until_idle(page)
    rate = page.get_by_label("Learning rate", exact=True)
    expect(rate).to_have_value(f"{result.suggestion.rate:.5f}")
