"""The app in a real browser: navigation, live training charts, double clicks, refreshes.

One Streamlit server for the module (conftest's `server`), on the synthetic
datasets, with its own run store; Debian's Chromium driven by Playwright. Skipped
when either is missing. Run alone with `pytest tests/test_browser.py -m browser`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cnn_core.store.folder import RUN_ID_PATTERN
from cnn_core.store.runs import load_run
from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

TRAINING_TIMEOUT_MS = 120_000
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
# How many epochs the live chart plots: points of its first trace (null: no chart yet).
# The epoch curves by their key: while the first epoch runs, the live per-batch loss
# chart is the page's only Plotly chart, and its points are batches, not epochs.
CHART_POINTS_JS = """() => {
    const graph = document.querySelector('.st-key-train_curves .js-plotly-plot');
    return graph && graph.data && graph.data[0] ? graph.data[0].x.length : null;
}"""


@pytest.fixture(scope="module")
def served_env() -> dict[str, str]:
    """One training at a time (the default, pinned): later runs wait in the queue."""
    return {"CNN_MAX_TRAININGS": "1"}


@pytest.fixture(scope="module", autouse=True)
def no_worker_left_behind(server: StreamlitServer, served_runs: Path) -> Iterator[None]:
    """After the module's tests, and before its server stops, stop every run's worker."""
    yield
    for folder in run_folders(served_runs):
        stop_run(folder)


# -- helpers ---------------------------------------------------------------------------


def run_folders(runs: Path) -> list[Path]:
    if not runs.is_dir():
        return []
    return sorted(p for p in runs.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name))


def stop_run(folder: Path, timeout: float = 60.0) -> None:
    """Ask a run's worker to stop and wait (bounded) until it is no longer active."""
    (folder / "stop").write_text("test cleanup")
    deadline = time.monotonic() + timeout
    while load_run(folder).active and time.monotonic() < deadline:
        time.sleep(0.5)


def open_page(page: Page, url: str, heading: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=heading).first).to_be_visible()
    wait_until_idle(page)


def set_number(page: Page, label: str, value: int | float) -> None:
    """Type into the number input labelled `label` and commit it (Enter reruns the app)."""
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_timeout(300)  # let the rerun start before waiting for it to end
    wait_until_idle(page)
    assert float(field.input_value()) == value, f"{label}: {field.input_value()!r}"


def set_up_run(page: Page, *, subset: int, epochs: int, batch: int, seed: int) -> None:
    set_number(page, "Training subset (0 = all)", subset)
    set_number(page, "Epochs", epochs)
    set_number(page, "Batch size", batch)
    set_number(page, "Random seed", seed)
    expect(train_button(page)).to_be_enabled()


def train_button(page: Page) -> Any:
    return page.locator(".st-key-train_start button")


def chart_points(page: Page) -> int | None:
    return page.evaluate(CHART_POINTS_JS)


def wait_for_points(page: Page, more_than: int, timeout_ms: float) -> int:
    """Poll the live chart until it plots more than `more_than` epochs; that count."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        points = chart_points(page)
        if points is not None and points > more_than:
            return points
        page.wait_for_timeout(250)
    raise AssertionError(f"the chart did not pass {more_than} point(s) in {timeout_ms / 1000} s")


def watched_run(page: Page) -> Any:
    """The "Watch run" selectbox's input; its value is the run's label (id or name, ...)."""
    return page.locator(".st-key-train_monitor_run input")


# -- tests -----------------------------------------------------------------------------


def test_home_then_train_streams_a_live_chart(
    page: Page, server: StreamlitServer, served_runs: Path
) -> None:
    open_page(page, server.url, "CNN Studio")
    nav = page.get_by_test_id("stSidebarNav")
    for name in ("Home", "Data", "Train"):
        expect(nav.get_by_role("link", name=name)).to_have_count(1)

    nav.get_by_role("link", name="Train").click()
    expect(page).to_have_url(f"{server.url}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    wait_until_idle(page)
    # Batch 4 on 600 images (135 steps an epoch): epochs then outlast the 1 s chart poll,
    # so the chart is seen partway through instead of jumping straight to 3 points.
    set_up_run(page, subset=600, epochs=3, batch=4, seed=1)
    train_button(page).click()

    seen: list[int] = []  # every distinct point count the chart showed, in order
    deadline = time.monotonic() + TRAINING_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        points = chart_points(page)
        if points is not None and (not seen or points != seen[-1]):
            seen.append(points)
        if points == 3 and page.get_by_text("Test accuracy").count():
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError(f"training did not finish in time; chart points seen: {seen}")
    assert seen[0] < 3, f"the chart never showed a partial run: {seen}"
    assert seen == sorted(seen), f"the chart lost points: {seen}"
    expect(page.get_by_text("Test accuracy").first).to_be_visible()
    print(f"chart point counts seen while training: {seen}")

    folders = run_folders(served_runs)
    assert len(folders) == 1, folders
    run = load_run(folders[0])
    assert run.has_model and run.state == "completed"


def test_double_click_on_train_starts_one_run(
    page: Page, server: StreamlitServer, served_runs: Path
) -> None:
    open_page(page, f"{server.url}/train", "Train")
    set_up_run(page, subset=300, epochs=1, batch=32, seed=2)
    before = set(run_folders(served_runs))

    train_button(page).dblclick()
    page.wait_for_timeout(3000)  # both clicks reach the server and are handled
    wait_until_idle(page)
    new = set(run_folders(served_runs)) - before
    for folder in new:  # the run itself is not under test: free the training slot
        stop_run(folder)
    assert len(new) == 1, sorted(p.name for p in new)


def test_data_page_shows_samples_and_rejects_a_bad_split(
    page: Page, server: StreamlitServer
) -> None:
    open_page(page, f"{server.url}/data", "Data")
    expect(page.get_by_test_id("stImage").first).to_be_visible()
    assert page.get_by_test_id("stImage").count() >= 10
    expect(page.locator(CHART)).to_be_visible()
    expect(page.get_by_text("Class distribution")).to_be_visible()

    set_number(page, "Validation fraction", 0.9)
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_be_visible()
    expect(error).to_contain_text("between 0.01 and 0.5")
    expect(page.get_by_test_id("stImage")).to_have_count(0)  # the page stopped at the error


def test_refresh_during_a_run_keeps_it_and_stop_ends_it(
    page: Page, server: StreamlitServer, served_runs: Path
) -> None:
    open_page(page, f"{server.url}/train", "Train")
    page.locator(".st-key-train_early label").click()
    expect(page.get_by_role("checkbox", name="Early stopping")).not_to_be_checked()
    wait_until_idle(page)
    set_up_run(page, subset=300, epochs=40, batch=8, seed=3)
    before = set(run_folders(served_runs))
    train_button(page).click()
    deadline = time.monotonic() + 30  # the click is handled by the next script run
    while not set(run_folders(served_runs)) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    (folder,) = set(run_folders(served_runs)) - before
    expect(watched_run(page)).to_have_value(re.compile(folder.name))
    first = wait_for_points(page, 0, TRAINING_TIMEOUT_MS)

    page.reload()
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    expect(watched_run(page)).to_have_value(re.compile(folder.name))
    expect(page.get_by_text(re.compile(r"Status:.*running"))).to_be_visible()
    later = wait_for_points(page, first, 60_000)
    assert later > first

    page.locator(".st-key-train_stop button").click()
    expect(page.get_by_text("Test accuracy").first).to_be_visible(timeout=90_000)
    expect(page.get_by_text("stopped early by the user")).to_be_visible()
    run = load_run(folder)
    assert run.state == "stopped"
    assert 0 < run.epochs_done < 40
