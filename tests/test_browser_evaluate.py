"""The Evaluate page in a real browser: click a confusion-matrix cell, see its images.

A run with a tiny trained model is put in the served app's run store before the
page opens. Skipped, like tests/test_browser.py, when Chromium or Playwright is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cnn_core.data.registry import load_dataset
from cnn_core.models.evaluate import most_confused_cell
from cnn_core.store.folder import RunFolder
from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser
from tests.run_factory import tiny_trained_run

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

FIRST_PAINT_MS = 120_000  # the first page that imports the run's modules takes a while
MATRIX = '[data-testid="stPlotlyChart"] .js-plotly-plot'
# Where the plot area of the confusion matrix is on the page, in CSS pixels.
PLOT_AREA_JS = """(selector) => {
    const graph = document.querySelector(selector);
    const box = graph.getBoundingClientRect(), layout = graph._fullLayout;
    return {left: box.left + layout.xaxis._offset, width: layout.xaxis._length,
            top: box.top + layout.yaxis._offset, height: layout.yaxis._length};
}"""


@pytest.fixture(scope="module")
def evaluated_run(served_runs: Path, synthetic_data_dir: Path) -> Path:
    """A tiny CNN trained and evaluated on synthetic MNIST, in the served app's store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_DATA_DIR", str(synthetic_data_dir))
        return tiny_trained_run(load_dataset("mnist"), root=served_runs)


def open_evaluate(page: Page, server: StreamlitServer) -> None:
    """Home first (the app's navigation is set up by its first run), then Evaluate."""
    page.goto(server.url)
    expect(page.get_by_role("heading", name="CNN Studio").first).to_be_visible()
    wait_until_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Evaluate").click()
    expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible()
    expect(page.locator(MATRIX)).to_be_visible(timeout=FIRST_PAINT_MS)
    wait_until_idle(page, timeout_ms=FIRST_PAINT_MS)


def click_cell(page: Page, true_class: int, pred_class: int, n_classes: int) -> None:
    """Click the middle of one cell of the confusion matrix (rows: true classes)."""
    # Centred on screen: a click off screen or under Streamlit's top bar does nothing.
    page.locator(MATRIX).evaluate("graph => graph.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(200)
    area = page.evaluate(PLOT_AREA_JS, MATRIX)
    x = area["left"] + (pred_class + 0.5) * area["width"] / n_classes
    y = area["top"] + (true_class + 0.5) * area["height"] / n_classes
    page.mouse.move(x, y)
    page.wait_for_timeout(200)  # Plotly picks the cell under the pointer on hover
    page.mouse.click(x, y)
    page.wait_for_timeout(300)  # let the rerun start before waiting for it to end
    wait_until_idle(page)


def test_clicking_a_cell_shows_exactly_its_images(
    evaluated_run: Path, page: Page, server: StreamlitServer
) -> None:
    evaluation = RunFolder(evaluated_run).read_evaluation()
    names = evaluation.class_names
    matrix = np.array(evaluation.confusion_matrix)
    default = most_confused_cell(matrix)
    # A cell with images that is not the one chosen when the page opens.
    candidates = [tuple(c) for c in np.argwhere(matrix > 0) if tuple(c) != default]
    true_class, pred_class = (int(v) for v in max(candidates, key=lambda c: matrix[c]))
    count = int(matrix[true_class, pred_class])

    open_evaluate(page, server)
    expect(page.get_by_text("Test accuracy")).to_be_visible()
    assert page.evaluate(f"() => document.querySelector('{MATRIX}').data[0].type") == "heatmap"
    click_cell(page, true_class, pred_class, len(names))

    expect(page.locator(".st-key-eval_true input")).to_have_value(names[true_class])
    expect(page.locator(".st-key-eval_pred input")).to_have_value(names[pred_class])
    expect(page.get_by_text(f"{count:,} test images")).to_be_visible()
    captions = page.locator(".st-key-eval_gallery").get_by_text(
        re.compile(
            rf"^true: {re.escape(names[true_class])}, predicted: "
            rf"{re.escape(names[pred_class])} \(\d+%\)$"
        )
    )
    expect(captions.first).to_be_visible()
    assert captions.count() == min(count, 40)

    # A second click moves the choice on (the first one's selection does not stick).
    click_cell(page, *default, len(names))
    expect(page.locator(".st-key-eval_true input")).to_have_value(names[default[0]])
    expect(page.locator(".st-key-eval_pred input")).to_have_value(names[default[1]])
