"""The Predict page in a real browser: draw a digit with the mouse, clear, upload files.

Uses the starter model that ships in cnn_core/store/starter (no training needed).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageDraw

from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

PREDICTION = '[data-testid="stMetricValue"]'
# The class of what the mouse would hit at (x, y), looking inside components' shadow roots
TOP_ELEMENT_CLASS = """([x, y]) => {
    let element = document.elementFromPoint(x, y);
    while (element && element.shadowRoot) {
        const inner = element.shadowRoot.elementFromPoint(x, y);
        if (!inner || inner === element) break;
        element = inner;
    }
    return element ? String(element.className) : null;
}"""


@pytest.fixture
def page(page: Page, server: StreamlitServer) -> Page:
    """conftest's fresh tab, opened on the Predict page (which loads TensorFlow)."""
    page.context.set_default_timeout(60_000)
    page.goto(f"{server.url}/predict")
    expect(page.get_by_role("heading", name="Predict").first).to_be_visible()
    wait_until_idle(page)
    return page


def drawing_surface(page: Page) -> Any:
    """Fabric.js stacks two canvases; the upper one receives the mouse."""
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible()
    return canvas.bounding_box()


def draw_vertical_stroke(page: Page) -> None:
    box = drawing_surface(page)
    x = box["x"] + box["width"] * 0.45  # a little off-centre: the recipe centres it
    page.mouse.move(x, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    steps = 12
    for i in range(1, steps + 1):
        page.mouse.move(x, box["y"] + box["height"] * (0.2 + 0.6 * i / steps))
    page.mouse.up()


def png_of_a_seven() -> bytes:
    image = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(25, 20), (95, 20), (50, 105)], fill=0, width=10)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_draw_a_one_then_clear(page: Page) -> None:
    expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()
    draw_vertical_stroke(page)
    expect(page.locator(PREDICTION).first).to_have_text("1", timeout=60_000)
    expect(page.get_by_text("What the network sees")).to_be_visible()
    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()
    expect(page.locator(PREDICTION)).to_have_count(0)


def test_a_narrow_window_keeps_the_whole_canvas_and_puts_the_result_under_it(
    page: Page,
) -> None:
    """At 900 px with the sidebar open the canvas (280 px) and its result do not fit side
    by side: the result wraps under the canvas, which stays whole (columns cut it off)."""
    page.set_viewport_size({"width": 900, "height": 1000})
    box = drawing_surface(page)
    corners = [
        (box["x"] + dx, box["y"] + dy)
        for dx in (5, box["width"] - 5)
        for dy in (50, box["height"] - 5)
    ]
    for x, y in corners:  # each side of the drawing surface, below its toolbar, is drawable
        hit = page.evaluate(TOP_ELEMENT_CLASS, [x, y])
        assert "upper-canvas" in hit.split(), (hit, x, y, box)
    draw_vertical_stroke(page)
    expect(page.locator(PREDICTION).first).to_have_text("1", timeout=60_000)
    result = page.locator(PREDICTION).first.bounding_box()
    assert result["y"] > box["y"] + box["height"]  # under the canvas, not beside it


def test_upload_an_image_and_a_non_image(page: Page) -> None:
    page.get_by_role("tab", name="Upload").click()
    chooser = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    chooser.set_input_files(
        [
            {"name": "seven.png", "mimeType": "image/png", "buffer": png_of_a_seven()},
            {"name": "fake.png", "mimeType": "image/png", "buffer": b"plain text, not a picture"},
        ]
    )
    expect(page.get_by_text("fake.png: not an image")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("seven.png as uploaded")).to_be_visible()
    bars = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
    expect(bars.first).to_be_visible()
    labels = bars.first.evaluate("graph => graph.data[0].y")  # the top-k classes, best first
    assert len(labels) == 5 and labels[0] == "7", labels
    expect(page.get_by_role("button", name="Download predictions (CSV)")).to_be_visible()
