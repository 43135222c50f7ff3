"""The Train journey in a real browser: change the form, leave, come back, train twice,
follow a finished run's links, and Stop a training to see "stopping" at once.

One Streamlit server for the module, on the synthetic datasets and its own run
store; skipped, like the other browser tests, when Chromium or Playwright is missing.
Screenshots of the finished view and of a stopping run go to the test's tmp_path.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cnn_core.insight.labels import run_label
from cnn_core.schema.config import ConvBlock, ModelSpec, TrainConfig
from cnn_core.schema.records import Progress, RunState
from cnn_core.store.folder import RUN_ID_PATTERN, RunFolder, create_run
from cnn_core.store.processes import process_start_time
from cnn_core.store.runs import list_runs, load_run
from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

TRAINING_TIMEOUT_MS = 180_000
EXCEPTION = '[data-testid="stException"]'
STOPPING_WITHIN_MS = 1000  # issue 14: "see 'stopping' within a second" of the click
# The browser's own clock (performance.now) times the click and the first animation
# frame that shows "Stopping…": no round trip to this process, no polling interval of
# Playwright's `expect` (100 ms to 1 s) is counted.
ARM_CLICK_CLOCK = """() => {
    window.__stopClickedAt = null;
    document.addEventListener("click", () => { window.__stopClickedAt = performance.now(); },
                              {capture: true, once: true});
}"""
STOPPING_SHOWN_MS = """() => {
    const clicked = window.__stopClickedAt;
    const stop = document.querySelector(".st-key-train_stop");
    const shown = stop !== null && stop.checkVisibility() && stop.innerText.includes("Stopping…");
    return clicked !== null && shown ? Math.max(performance.now() - clicked, 0.001) : null;
}"""
SHOTS = Path(os.environ.get("CNN_SCREENSHOTS", "")) if os.environ.get("CNN_SCREENSHOTS") else None


@pytest.fixture(scope="module", autouse=True)
def no_worker_left_behind(server: StreamlitServer, served_runs: Path) -> Iterator[None]:
    """After the module's tests, and before its server stops, stop every run's worker."""
    yield
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_RUNS_DIR", str(served_runs))
        for run in list_runs():
            if run.active:
                run.request_stop()


def screenshot_monitor(page: Page, folder: Path, name: str) -> None:
    """Save a screenshot of the Train page's run monitor in `folder` (and in
    $CNN_SCREENSHOTS when set). Streamlit scrolls inside its own container, so
    the view is scrolled to the monitor's heading rather than shot full-page."""
    page.get_by_role("heading", name="Runs", exact=True).evaluate(
        "heading => heading.scrollIntoView({block: 'start'})"
    )
    page.wait_for_timeout(300)
    for where in filter(None, [folder, SHOTS]):
        where.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(where / f"{name}.png"))


def open_train(page: Page, server: StreamlitServer) -> None:
    page.goto(f"{server.url}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    wait_until_idle(page, timeout_ms=120_000)


def go(page: Page, name: str, heading: str) -> None:
    """Open a page from the sidebar, as a person does: the pointer moves there first,
    so a tooltip of whatever it last rested on closes (Playwright jumps straight to
    the click, and a tooltip over the link would take it)."""
    sidebar = page.get_by_test_id("stSidebar").bounding_box()
    if sidebar is not None:  # its empty foot
        page.mouse.move(sidebar["x"] + 10, sidebar["y"] + sidebar["height"] - 10)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    wait_until_idle(page)
    expect(page.locator(EXCEPTION)).to_have_count(0)


def number(page: Page, label: str) -> Any:
    return page.get_by_label(label, exact=True)


def set_number(page: Page, label: str, value: float) -> None:
    field = number(page, label)
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_timeout(300)  # let the rerun start before waiting for it to end
    wait_until_idle(page)
    assert float(field.input_value()) == value, f"{label}: {field.input_value()!r}"


# (label, value): the form's fields this journey changes
FORM = [
    ("Training subset (0 = all)", 200),
    ("Epochs", 1),
    ("Batch size", 32),
    ("Random seed", 11),
    ("Learning rate", 0.002),
    ("Block 1 filters", 8),
    ("Dense 1 units", 16),
]


def assert_form_kept(page: Page, **changed: float) -> None:
    expected = dict(FORM) | changed
    for label, value in expected.items():
        assert float(number(page, label).input_value()) == value, label


def runs_in(store: Path) -> set[str]:
    if not store.is_dir():
        return set()
    return {p.name for p in store.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name)}


def train_and_finish(page: Page, store: Path) -> str:
    """Press Train; wait until the new run's results are shown; its id."""
    before = runs_in(store)
    page.locator(".st-key-train_start button").click()
    deadline = time.monotonic() + 30
    while not runs_in(store) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    (run_id,) = runs_in(store) - before
    expect(page.get_by_text("Test accuracy").first).to_be_visible(timeout=TRAINING_TIMEOUT_MS)
    wait_until_idle(page)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    return run_id


def test_the_form_survives_leaving_and_two_runs_train_in_one_session(
    page: Page, server: StreamlitServer, served_runs: Path, tmp_path: Path
) -> None:
    open_train(page, server)
    page.get_by_role("combobox", name="Dataset").click()  # a selectbox's own search box
    page.get_by_role("option", name=re.compile("Fashion")).click()
    wait_until_idle(page)
    for label, value in FORM:
        set_number(page, label, value)
    go(page, "Runs", "Runs")
    go(page, "Train", "Train")
    assert_form_kept(page)
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value(re.compile("Fashion"))

    first = train_and_finish(page, served_runs)
    assert load_run(served_runs / first).config.dataset == "fashion_mnist"
    go(page, "Data", "Data")
    go(page, "Train", "Train")  # the finished view's buttons were in the session
    assert_form_kept(page)
    links = page.get_by_test_id("stPageLink")
    expect(links.filter(has_text="Evaluate")).to_have_count(1)
    screenshot_monitor(page, tmp_path, "train_finished_with_next_steps")

    set_number(page, "Random seed", 12)  # the very same setup again would be one run
    second = train_and_finish(page, served_runs)
    assert second != first
    go(page, "Runs", "Runs")
    go(page, "Train", "Train")
    assert_form_kept(page, **{"Random seed": 12})

    # The finished run's links open its pages on it.
    page.get_by_test_id("stPageLink").filter(has_text="Inside the CNN").click()
    expect(page.get_by_role("heading", name="Inside the CNN", exact=True)).to_be_visible()
    wait_until_idle(page, timeout_ms=120_000)
    assert f"run={second}" in page.url
    label = run_label(load_run(served_runs / second))
    expect(page.locator(".st-key-inside_run input")).to_have_value(label)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    go(page, "Evaluate", "Evaluate")  # from the sidebar: the session's run follows
    expect(page.locator(".st-key-eval_run input")).to_have_value(label)
    assert f"run={second}" in page.url


def test_stop_says_stopping_at_once_and_ends_the_run(
    page: Page, server: StreamlitServer, served_runs: Path, tmp_path: Path
) -> None:
    open_train(page, server)
    page.locator(".st-key-train_early label").click()  # no early end before the Stop
    wait_until_idle(page)
    for label, value in [("Training subset (0 = all)", 300), ("Epochs", 200), ("Batch size", 4)]:
        set_number(page, label, value)
    set_number(page, "Random seed", 21)
    before = runs_in(served_runs)
    page.locator(".st-key-train_start button").click()
    expect(page.get_by_text(re.compile(r"Epoch \d+/200 · batch"))).to_be_visible(
        timeout=TRAINING_TIMEOUT_MS
    )
    (run_id,) = runs_in(served_runs) - before
    folder = served_runs / run_id

    page.evaluate(ARM_CLICK_CLOCK)
    page.locator(".st-key-train_stop button").click()
    shown_ms = page.wait_for_function(
        STOPPING_SHOWN_MS, polling="raf", timeout=TRAINING_TIMEOUT_MS
    ).json_value()
    print(f"'Stopping…' shown {shown_ms / 1000:.2f} s after the click")
    assert shown_ms <= STOPPING_WITHIN_MS, f"'Stopping…' took {shown_ms / 1000:.2f} s to show"
    expect(page.locator(".st-key-train_stop button")).to_be_disabled()
    assert load_run(folder).stop_requested_at is not None
    expect(page.get_by_text("stopped early by the user")).to_be_visible(timeout=TRAINING_TIMEOUT_MS)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    run = load_run(folder)
    assert run.state == RunState.STOPPED
    history = RunFolder(folder).read_history()
    assert run.epochs_done == len([r for r in history if not r.partial])
    wait_until_idle(page)
    screenshot_monitor(page, tmp_path, "train_stopped")


def test_a_stopping_run_shows_what_the_worker_does(
    page: Page, server: StreamlitServer, served_runs: Path, tmp_path: Path
) -> None:
    """A run whose "worker" is this test process: it stays in its stopping step."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_RUNS_DIR", str(served_runs))
        config = TrainConfig(
            model=ModelSpec(kind="cnn", conv_blocks=(ConvBlock(8, 3),)), name="being stopped"
        )
        folder = create_run(config)
    pid = os.getpid()
    folder.write_status(RunState.RUNNING, pid=pid, pid_start=process_start_time(pid))
    folder.write_progress(Progress(epoch=3, epochs=10, batch=1, batches=844, elapsed=95.0))
    folder.request_stop()
    folder.write_status(
        RunState.RUNNING, message="Stopping: evaluating the model so far on the test set…"
    )
    try:
        open_train(page, server)
        # The only training run: a new session watches it.
        expect(page.locator(".st-key-train_monitor_run input")).to_have_value(
            re.compile("being stopped")
        )
        expect(page.get_by_text("evaluating the model so far on the test set")).to_be_visible()
        expect(page.locator(".st-key-train_stop button")).to_be_disabled()
        screenshot_monitor(page, tmp_path, "train_stopping")
    finally:
        folder.write_status(RunState.STOPPED, message="stopped by the user")
