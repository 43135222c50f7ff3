"""Helpers to drive the app in a real browser: a Streamlit server and Chromium.

Used by `tests/test_browser.py` and `scripts/screenshots.py`. Playwright cannot
download its own browsers here, so Chromium is always Debian's
(`apt-get install chromium`), passed by path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def chromium_path() -> str | None:
    """Debian's Chromium, or whichever `chromium` is on PATH, or None."""
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    return shutil.which("chromium")


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _server_output(log: IO[bytes]) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-6000:]


def start_streamlit(
    app_path: str | Path, env: dict[str, str], port: int, timeout: float = START_TIMEOUT_S
) -> subprocess.Popen:
    """Start `streamlit run app_path` on `port` and wait until it answers its health check.

    Args:
        app_path: the entry script, relative to the repo root or absolute.
        env: the server's whole environment (include os.environ yourself).
        port: where it listens (see `free_port`).
        timeout: seconds to wait for `/_stcore/health` to say "ok".

    Returns:
        The server process, in its own process group; stop it with `stop_streamlit`.
        Its output goes to a temporary file, `proc.log_file` (read on failure).

    Raises:
        RuntimeError: the server exited or did not get healthy in time (with its output).
    """
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_streamlit
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own group: stop_streamlit ends it and its children
    )
    proc.log_file = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = _server_output(log)
            stop_streamlit(proc)
            raise RuntimeError(f"streamlit exited with code {proc.returncode}:\n{output}")
        if _health(port):
            return proc
        time.sleep(0.3)
    output = _server_output(log)
    stop_streamlit(proc)
    raise RuntimeError(f"streamlit did not answer on port {port} within {timeout:.0f} s:\n{output}")


def server_output(proc: subprocess.Popen) -> str:
    """The last part of what a server from `start_streamlit` printed."""
    log = getattr(proc, "log_file", None)
    return _server_output(log) if log is not None and not log.closed else ""


def stop_streamlit(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """End a server from `start_streamlit`: SIGTERM, then SIGKILL after `timeout` seconds.

    Training workers it launched run in their own sessions and are not touched.
    """
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=timeout)
    log = getattr(proc, "log_file", None)
    if log is not None:
        log.close()


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group is the server's own (start_new_session)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def launch_browser(playwright: Any, executable_path: str | None = None) -> Any:
    """A headless Chromium (Playwright `Browser`) started from `chromium_path()`.

    Raises:
        RuntimeError: no Chromium was found.
    """
    path = executable_path or chromium_path()
    if path is None:
        raise RuntimeError(f"Chromium not found at {DEFAULT_CHROMIUM}: apt-get install chromium")
    return playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)


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
        pytest.skip(
            f"Chromium not found at {DEFAULT_CHROMIUM}: apt-get install chromium",
            allow_module_level=True,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(
            "playwright is not installed: pip install -r requirements-dev.txt",
            allow_module_level=True,
        )


def app_environment(root: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """The server's environment: its own run store and Keras cache under `root`."""
    return dict(
        os.environ,
        CNN_RUNS_DIR=str(root / "runs"),
        CNN_DATA_DIR=str(data_dir),
        KERAS_HOME=str(root / "keras_home"),
        **extra,
    )


@contextlib.contextmanager
def running_app(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app.py` on a free port: (its base URL, the process); stopped on exit."""
    port = free_port()
    proc = start_streamlit("app.py", env, port)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        stop_streamlit(proc)


@contextlib.contextmanager
def browser_tab(
    browser: Any,
    request: Any,
    folder: Path,
    proc: subprocess.Popen,
    width: int = 1400,
    timeout_ms: float = 30_000,
) -> Iterator[Any]:
    """A tab in a fresh browser context (a new Streamlit session), reported on failure."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    context.set_default_timeout(timeout_ms)
    tab = context.new_page()
    try:
        with report_failure(tab, request, folder, proc):
            yield tab
    finally:
        context.close()


@contextlib.contextmanager
def report_failure(tab: Any, request: Any, folder: Path, proc: subprocess.Popen) -> Iterator[None]:
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
            print("server output (tail):\n" + server_output(proc)[-3000:])
