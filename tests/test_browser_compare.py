"""The Compare page in a real browser: tick two runs in the table, see both curves.

Runs made by hand (epoch logs only, nothing trains) are put in the served app's
run store before the page opens. Skipped, like tests/test_browser.py, when
Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cnn_core.schema.config import ModelSpec, TrainConfig
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.folder import create_run
from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

FIRST_PAINT_MS = 120_000
TABLE = ".st-key-compare_table"
CURVES = ".st-key-compare_curves .js-plotly-plot"
ROW_PX = 35  # Streamlit's data grid: header and rows are 35 px high
# The names of the traces in the curves chart that have a legend entry.
LEGEND_JS = """(selector) => {
    const graph = document.querySelector(selector);
    return graph && graph.data ? graph.data.filter(t => t.showlegend).map(t => t.name) : null;
}"""
NAMES = ("oldest run", "softmax run", "newest run")


@pytest.fixture(scope="module")
def made_runs(served_runs: Path) -> list[str]:
    """Three finished runs, oldest first; the table lists them newest first."""
    ids = []
    for i, name in enumerate(NAMES):
        model = ModelSpec(kind="softmax") if name == "softmax run" else None
        config = TrainConfig(name=name, seed=i, **({"model": model} if model else {}))
        folder = create_run(config, served_runs)
        for epoch in (1, 2, 3):
            accuracy = 0.5 + 0.1 * epoch - 0.05 * i
            folder.append_epoch(
                EpochRecord(
                    epoch,
                    seconds=1.0 + i,
                    loss=1 / epoch,
                    accuracy=accuracy,
                    val_loss=1.1 / epoch,
                    val_accuracy=accuracy - 0.02,
                )
            )
        folder.write_status(RunState.COMPLETED, created=1_700_000_000.0 + i, train_seconds=3.0)
        ids.append(folder.run_id)
    return ids


def tick_row(page: Page, row: int) -> None:
    """Click the selection box of the table's row `row` (0 = first below the header)."""
    box = page.locator(TABLE).bounding_box()
    x, y = box["x"] + 18, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2
    page.mouse.move(x, y)  # the grid shows the row's box on hover; click it once drawn
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    page.wait_for_timeout(300)
    wait_until_idle(page)


def test_ticking_two_runs_overlays_both_curves_and_puts_them_in_the_url(
    page: Page, server: StreamlitServer, made_runs: list[str]
) -> None:
    page.goto(f"{server.url}/compare")  # a deep link, as a shared link is opened
    expect(page.get_by_role("heading", name="Compare", exact=True)).to_be_visible()
    expect(page.locator(TABLE)).to_be_visible(timeout=FIRST_PAINT_MS)
    wait_until_idle(page, timeout_ms=FIRST_PAINT_MS)
    expect(page.get_by_text("Tick two or more runs")).to_be_visible()

    oldest, _, newest = made_runs
    tick_row(page, 0)  # the newest run
    expect(page).to_have_url(re.compile(rf"runs={newest}$"))
    tick_row(page, 2)  # the oldest run
    expect(page.locator(CURVES)).to_be_visible()
    legend = page.evaluate(LEGEND_JS, CURVES)
    assert sorted(legend) == ["newest run", "oldest run"], legend
    expect(page).to_have_url(re.compile(rf"runs={newest}(,|%2C){oldest}$"))

    # The link opens the same view in a fresh session.
    url = page.url
    fresh = page.context.browser.new_context().new_page()
    try:
        fresh.goto(url)
        expect(fresh.locator(CURVES)).to_be_visible(timeout=FIRST_PAINT_MS)
        wait_until_idle(fresh)
        assert sorted(fresh.evaluate(LEGEND_JS, CURVES)) == ["newest run", "oldest run"]
    finally:
        fresh.context.close()


def test_the_page_follows_a_run_that_finishes_while_its_charts_poll(
    page: Page, server: StreamlitServer, served_runs: Path
) -> None:
    """Only the curves and table of the chosen runs poll (a fragment); once a chosen run
    moves on, the run table above and the actions below are drawn again too."""
    base = create_run(TrainConfig(name="finished base", seed=5), served_runs)
    base.append_epoch(EpochRecord(1, seconds=1.0, loss=1.0, accuracy=0.5, val_accuracy=0.5))
    base.write_status(RunState.COMPLETED, train_seconds=1.0)
    live = create_run(TrainConfig(name="live run", seed=6), served_runs)
    live.write_status(RunState.RUNNING, pid=os.getpid())  # this test's process: alive
    # "Starting from" is the live run: its one-click comparisons wait until it finishes.
    page.goto(f"{server.url}/compare?runs={live.run_id},{base.run_id}")
    expect(page.locator(CURVES)).to_be_visible(timeout=FIRST_PAINT_MS)
    wait_until_idle(page, timeout_ms=FIRST_PAINT_MS)
    choice = page.locator(".st-key-compare_compare_choice")
    expect(choice).to_have_count(0)

    for epoch in (1, 2):
        live.append_epoch(
            EpochRecord(epoch, seconds=1.0, loss=1 / epoch, accuracy=0.6, val_accuracy=0.6)
        )
    live.write_status(RunState.COMPLETED, train_seconds=2.0)
    # Outside the fragment: drawn only when the page runs again as a whole (which also
    # redraws the run table; its cells are a canvas, not text to read here).
    expect(choice).to_be_visible(timeout=30_000)
