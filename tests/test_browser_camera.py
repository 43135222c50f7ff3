"""The Predict page's Camera tab in a real browser, on Chromium's fake webcam.

Chromium's `--use-fake-device-for-media-stream` feeds a generated video (a green
frame with a moving shape); `--use-fake-ui-for-media-stream` grants the camera
without a prompt. Uses the starter model (no training needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scripts.app_server import StreamlitServer
from scripts.browser import CHROMIUM_ARGS, chromium_path, wait_until_idle
from tests.browser_support import skip_unless_browser

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402 - after the skip

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """conftest's headless Chromium, with a fake webcam."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=[*CHROMIUM_ARGS, *FAKE_CAMERA]
        )
        try:
            yield launched
        finally:
            launched.close()


def test_a_webcam_photo_is_classified(page: Page, server: StreamlitServer) -> None:
    page.context.set_default_timeout(90_000)
    page.goto(f"{server.url}/predict")
    expect(page.get_by_role("heading", name="Predict").first).to_be_visible()
    wait_until_idle(page)
    page.get_by_role("tab", name="Camera").click()
    page.get_by_role("button", name="Take Photo").click()
    expect(page.get_by_text("as the network sees it")).to_be_visible()
    expect(page.get_by_text("Class probabilities")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
