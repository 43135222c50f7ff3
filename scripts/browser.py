"""Headless Chromium for tests, benchmarks and scripts: launch it, wait for Streamlit.

Playwright cannot download its own browsers here, so Chromium is always Debian's
(`apt-get install chromium`), passed by path. Playwright is imported only inside
the functions that need it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_CHROMIUM = "/usr/bin/chromium"
MISSING_CHROMIUM = f"Chromium not found at {DEFAULT_CHROMIUM}: apt-get install chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's Chromium, or whichever `chromium` is on PATH, or None."""
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    return shutil.which("chromium")


def launch_browser(playwright: Any, executable_path: str | None = None) -> Any:
    """A headless Chromium (Playwright `Browser`) started from `chromium_path()`.

    Raises:
        RuntimeError: no Chromium was found.
    """
    path = executable_path or chromium_path()
    if path is None:
        raise RuntimeError(MISSING_CHROMIUM)
    return playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Playwright and a headless Chromium (`launch_browser`), both closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            yield browser
        finally:
            browser.close()


def wait_until_idle(page: Any, timeout_ms: float = 60_000, settle_ms: float = 500) -> None:
    """Wait until Streamlit has finished the current script run.

    The app root carries `data-test-script-state` ("running" while the script runs);
    this waits until it has said "notRunning" for `settle_ms`. Fragments that poll on
    a timer briefly bring "running" back, which is fine: callers only need the page
    drawn once.

    Raises:
        TimeoutError: the script was still running after `timeout_ms`.
    """
    app = page.locator('[data-testid="stApp"]')
    app.wait_for(state="attached", timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        if app.get_attribute("data-test-script-state") != "notRunning":
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif (time.monotonic() - quiet_since) * 1000 >= settle_ms:
            return
        page.wait_for_timeout(100)
    raise TimeoutError(f"the app was still running after {timeout_ms / 1000:.0f} s")


def full_page_screenshot(page: Any, path: str | Path, max_height: int = 16_000) -> None:
    """A PNG of the whole app, not just the viewport.

    Streamlit scrolls inside `[data-testid="stMain"]`, so Playwright's `full_page`
    sees only one screen: this grows the viewport to the content's height (twice, as
    charts reflow on resize), takes the shot, and puts the viewport back.
    """
    original = page.viewport_size or {"width": 1400, "height": 1000}
    height_js = """() => Math.max(window.innerHeight, ...[...document.querySelectorAll(
        '[data-testid="stMain"], [data-testid="stSidebarContent"]')].map(e => e.scrollHeight))"""
    try:
        for _ in range(2):
            height = min(max_height, int(page.evaluate(height_js)))
            page.set_viewport_size({"width": original["width"], "height": height})
            page.wait_for_timeout(400)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(original)
