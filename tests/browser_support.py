"""What the browser tests add to `scripts.browser` and `scripts.app_server`.

The skip when Chromium or Playwright is missing, Playwright's `expect` timeout,
and a browser tab that saves a screenshot and the server's output when its test
fails. The fixtures built on these (`browser`, `server`, `page`) are in conftest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scripts.app_server import StreamlitServer
from scripts.browser import MISSING_CHROMIUM, chromium_path

EXPECT_TIMEOUT_MS = 30_000  # this 2-core machine can take seconds to rerun a page under load
try:
    from playwright.sync_api import expect as _expect

    _expect.set_options(timeout=EXPECT_TIMEOUT_MS)
except ImportError:  # the browser tests skip themselves with a clear reason
    pass


def skip_unless_browser() -> None:
    """Skip the calling test module, with the reason, when Chromium or Playwright is missing.

    Call at module level before importing from `playwright`.
    """
    import pytest

    if chromium_path() is None:
        pytest.skip(MISSING_CHROMIUM, allow_module_level=True)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(
            "playwright is not installed: pip install -r requirements-dev.txt",
            allow_module_level=True,
        )


@contextlib.contextmanager
def browser_tab(
    browser: Any,
    request: Any,
    folder: Path,
    server: StreamlitServer,
    width: int = 1400,
    timeout_ms: float = 30_000,
) -> Iterator[Any]:
    """A tab in a fresh browser context (a new Streamlit session), reported on failure."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    context.set_default_timeout(timeout_ms)
    tab = context.new_page()
    try:
        with report_failure(tab, request, folder, server):
            yield tab
    finally:
        context.close()


@contextlib.contextmanager
def report_failure(tab: Any, request: Any, folder: Path, server: StreamlitServer) -> Iterator[None]:
    """Around one test: on failure, save a screenshot and print the server's output tail."""
    failed_before = request.session.testsfailed
    try:
        yield
    finally:
        if request.session.testsfailed > failed_before:
            shot = folder / f"{request.node.name}.png"
            try:
                tab.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the failure: {shot}")
            except Exception as error:  # noqa: BLE001 - best effort while reporting
                print(f"no screenshot: {error}")
            print("server output (tail):\n" + server.output(3000))


def writable_data_dir(folder: Path, synthetic_data_dir: Path) -> Path:
    """`folder` as a served app's data directory: links to the synthetic datasets, and
    room for the imports a test makes (they land in `folder`, never in the shared set)."""
    for item in synthetic_data_dir.iterdir():
        (folder / item.name).symlink_to(item)
    return folder
