"""A shared deployment under load: memory, the memory guard, and page render times.

    .venv/bin/python benchmarks/bench_deploy.py [--epochs N] [--sessions N]
        [--mode browser|protocol|both] [--rounds N]

Serves `app.py` as a deployment would (`CNN_PRIVATE_WORKSPACES=1`, a temp run
store, loopback only) while one training worker (`python -m cnn_core.training.worker
--config ...`, default CNN, MNIST from ../shared/data) trains in the same store:

(a) peak RSS of the server and of the worker, polled together, and their sum;
(b) server RSS after one browser session visited every sidebar page (target < 1 GB);
(c) page render times, median / p95 / max, overall and per page: one session,
    then `--sessions` (10) simultaneous sessions, each with its own `?ws=`
    workspace, opening every sidebar page.
    browser: in one headless Chromium, each page by URL; a render is from
    navigation to the page's title drawn with the script finished (the browser's
    own CPU time included: on 2 cores the renderers compete with the server).
    protocol: Streamlit's websocket protocol without a browser
    (`protocol_client.py`), `--rounds` passes per session; a render is from the
    rerun request sent to `script_finished` received, and one that raised (an
    Exception element), did not compile or was not found counts as failed: the
    server's own time;
(d) the largest run `cnn_core.training.resources`' guard admits under a 2.7 GB and a 1 GB
    memory limit, once the server's RSS (after every page, and after Home alone) is
    taken: the most training images of the default CNN per dataset, and the
    guard's estimate of the worker measured in (a).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from bench_memory import data_env, sidebar_links
from common import (
    PYTHON,
    ROOT,
    RssPoller,
    load_average,
    print_machine,
    print_table,
    proc_status_kb,
    verdict,
)
from protocol_client import Render, concurrent_sessions

from cnn_core.base import workspace
from cnn_core.data.registry import builtin_keys, dataset_info
from cnn_core.schema.config import FitSpec, TrainConfig
from cnn_core.training import resources
from scripts.app_server import StreamlitServer, stop_process_group
from scripts.browser import chromium, chromium_path, wait_until_idle

MB = 1024 * 1024
SERVER_TARGET_MB = 1024
LIMITS_MB = (2700, 1024)
PAGE_TIMEOUT_S = 180.0


def start_worker(store: Path, epochs: int, tmp: Path) -> subprocess.Popen:
    """One headless training in the server's store, in its own process group."""
    fit = FitSpec(epochs=epochs, early_stopping=False)  # trains until stopped
    config = TrainConfig(dataset="mnist", fit=fit, name="bench_deploy")
    path = tmp / "cfg.json"  # a headless config file
    path.write_text(json.dumps(config.to_dict()))
    command = [
        PYTHON,
        "-m",
        "cnn_core.training.worker",
        "--config",
        str(path),
        "--runs-dir",
        str(store),
    ]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=data_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def visit_every_page(url: str, pid: int) -> tuple[list[tuple[str, str]], float]:
    """One browser session: Home, then every sidebar link.

    Returns:
        (label, href) of the links, and the server's RSS in MB after Home.
    """
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url, wait_until="commit", timeout=120_000)
        wait_until_idle(page, PAGE_TIMEOUT_S * 1000)
        home_mb = proc_status_kb(pid).get("VmRSS", 0) / 1024
        links = sidebar_links(page)
        for _, href in links:
            page.locator(f'[data-testid="stSidebarNavLink"][href="{href}"]').first.click()
            wait_until_idle(page, PAGE_TIMEOUT_S * 1000)
        page.close()
    return links, home_mb


async def render_times(urls: list[str], sessions: int) -> list[Render]:
    """Seconds from navigation to a drawn, finished page; `sessions` tabs at once."""
    from playwright.async_api import async_playwright

    from scripts.browser import CHROMIUM_ARGS

    async def drawn(page: object) -> None:
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        app = page.locator('[data-testid="stApp"]')
        title = page.locator("h1")
        while time.monotonic() < deadline:
            if (
                await app.count()
                and await app.first.get_attribute("data-test-script-state") == "notRunning"
                and await title.count()
            ):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("page did not finish drawing")

    async def session(browser: object) -> list[Render]:
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        workspace_id = workspace.new_workspace_id()
        times = []
        for url in urls:
            start = time.perf_counter()
            await page.goto(f"{url}?ws={workspace_id}", wait_until="commit", timeout=120_000)
            await drawn(page)
            times.append(Render(urlparse(url).path.strip("/"), time.perf_counter() - start))
        await context.close()
        return times

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            results = await asyncio.gather(*(session(browser) for _ in range(sessions)))
        finally:
            await browser.close()
    return [t for times in results for t in times]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def guard_rows(server_mb: float) -> list[tuple]:
    """The largest default-CNN run admitted per dataset and limit, the server's RSS taken."""
    rows = []
    for limit in LIMITS_MB:
        free = int((limit - server_mb) * MB)
        for key in builtin_keys():
            info = dataset_info(key)
            config = TrainConfig(dataset=key)
            n = resources.largest_admitted_subset(config, info, free)
            full = resources.estimate_training_memory(config, info).total / MB
            admitted = "none" if n == 0 else ("all" if n == info.n_train else f"{n:,}")
            rows.append((f"{limit} MB", key, f"{free / MB:.0f}", f"{full:.0f}", admitted))
    return rows


def protocol_times(base_url: str, sessions: int, rounds: int) -> list[Render]:
    """`sessions` protocol sessions at once, each its own workspace, every page `rounds` times."""
    queries = [f"ws={workspace.new_workspace_id()}" for _ in range(sessions)]
    return asyncio.run(concurrent_sessions(base_url, queries, rounds))


def render_rows(label: str, renders: list[Render], load: str) -> list[tuple]:
    """Overall and per-page rows: renders, failed, median, p95, max seconds, load average."""
    by_page: dict[str, list[Render]] = {}
    for render in renders:
        by_page.setdefault(render.page or "home", []).append(render)
    rows = []
    for page, group in [("all pages", renders), *sorted(by_page.items())]:
        times = [r.seconds for r in group]
        rows.append(
            (
                f"{label}, {page}",
                len(group),
                sum(not r.ok for r in group),
                f"{statistics.median(times):.2f}",
                f"{percentile(times, 0.95):.2f}",
                f"{max(times):.2f}",
                load if page == "all pages" else "",
            )
        )
    return rows


def failures(renders: list[Render]) -> list[str]:
    """What went wrong in the failed renders, one line each."""
    return [
        f"{r.page or 'home'}: {r.problem or '; '.join(r.exceptions)}" for r in renders if not r.ok
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="of the background training")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--mode", choices=("browser", "protocol", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=2, help="protocol passes per session")
    args = parser.parse_args()
    modes = ("browser", "protocol") if args.mode == "both" else (args.mode,)
    print_machine("A shared deployment: memory, memory guard, render times under load")
    if "browser" in modes and chromium_path() is None:
        print("Chromium not found: apt-get install chromium")
        return 1
    results: list[tuple[str, list[Render], str]] = []  # (label, renders, load average)
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        tmpdir = Path(tmp)
        store = tmpdir / "runs"
        store.mkdir()
        env = data_env(CNN_RUNS_DIR=str(store), CNN_PRIVATE_WORKSPACES="1")
        with StreamlitServer("app.py", env) as server:
            worker = start_worker(store, args.epochs, tmpdir)
            try:
                with RssPoller(server.pid) as server_poll, RssPoller(worker.pid) as worker_poll:
                    if "browser" in modes:
                        links, home_mb = visit_every_page(server.url, server.pid)
                        n_pages = len(links) + 1
                    else:
                        first = protocol_times(server.url, 1, 1)
                        home_mb, n_pages = float("nan"), len(first)
                    after_pages_mb = proc_status_kb(server.pid).get("VmRSS", 0) / 1024
                    for mode in modes:
                        for sessions in (1, args.sessions):
                            label = f"{mode}, {sessions} session{'s' if sessions > 1 else ''}"
                            if mode == "browser":
                                urls = [server.url] + [href for _, href in links]
                                rounds = 2 if sessions == 1 else 1
                                renders = asyncio.run(render_times(urls * rounds, sessions))
                            else:
                                renders = protocol_times(server.url, sessions, args.rounds)
                            results.append((label, renders, load_average()))
                            print(f"  {label}: {len(renders)} renders, load {load_average()}")
                    training = worker.poll() is None
                    both_peak = server_poll.peak_mb + worker_poll.peak_mb
            finally:
                stop_process_group(worker)
        measured_worker_mb = worker_poll.peak_mb

    still = "yes" if training else "NO"
    print(
        f"\n(a) peak RSS while training: server {server_poll.peak_mb:.0f} MB, worker "
        f"{measured_worker_mb:.0f} MB, together {both_peak:.0f} MB "
        f"(worker still training when the load ended: {still})"
    )
    print(f"(b) server RSS after visiting {n_pages} pages: {after_pages_mb:.0f} MB\n")
    print("(c) page render time, one training running (load average 1/5/15 min after each load)")
    rows = [row for label, renders, load in results for row in render_rows(label, renders, load)]
    print_table(("load, page", "renders", "failed", "median s", "p95 s", "max s", "load avg"), rows)
    for label, renders, _ in results:
        for line in failures(renders):
            print(f"  FAILED ({label}) {line}")
    print()
    guard_servers = (("every page", after_pages_mb), ("Home only", home_mb))
    for label, server_mb in [g for g in guard_servers if g[1] == g[1]]:  # NaN: not measured
        batch = TrainConfig().fit.batch_size
        print(f"(d) memory guard, default CNN (batch {batch}), server after {label}: ", end="")
        print(f"{server_mb:.0f} MB")
        print_table(
            ("limit", "dataset", "free MB", "full-set estimate MB", "largest admitted train set"),
            guard_rows(server_mb),
        )
    sample = TrainConfig(dataset="mnist", train_subset=4500)
    estimate = resources.estimate_training_memory(sample, dataset_info("mnist")).total / MB
    print(
        f"guard's estimate for the measured worker (MNIST, 4,500 train images): "
        f"{estimate:.0f} MB; measured peak {measured_worker_mb:.0f} MB\n"
    )
    verdict(
        after_pages_mb < SERVER_TARGET_MB,
        f"server RSS after every page {after_pages_mb:.0f} MB (< {SERVER_TARGET_MB} MB)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
