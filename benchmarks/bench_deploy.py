"""A shared deployment under load: memory, the memory guard, and page render times.

    .venv/bin/python benchmarks/bench_deploy.py [--epochs N] [--sessions N]

Serves `app.py` as a deployment would (`CNN_PRIVATE_WORKSPACES=1`, a temp run
store, loopback only) while one training worker (`python -m cnn_core.worker
--config ...`, default CNN, MNIST from ../shared/data) trains in the same store:

(a) peak RSS of the server and of the worker, polled together, and their sum;
(b) server RSS after one browser session visited every sidebar page (target < 1 GB);
(c) page render times, median and p95: one session, then `--sessions` (10)
    simultaneous sessions in one headless Chromium, each opening every page by URL
    with its own `?ws=` workspace; a render is from navigation to the page's title
    drawn with the script finished;
(d) the largest run `cnn_core.resources`' guard admits under a 2.7 GB and a 1 GB
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

from bench_memory import data_env, sidebar_links
from common import PYTHON, ROOT, RssPoller, print_machine, print_table, proc_status_kb, verdict

from cnn_core import resources, workspaces
from cnn_core.config import FitSpec, TrainConfig
from cnn_core.data import DATASETS
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
    command = [PYTHON, "-m", "cnn_core.worker", "--config", str(path), "--runs-dir", str(store)]
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


async def render_times(urls: list[str], sessions: int) -> list[float]:
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

    async def session(browser: object) -> list[float]:
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        workspace = workspaces.new_workspace_id()
        times = []
        for url in urls:
            start = time.perf_counter()
            await page.goto(f"{url}?ws={workspace}", wait_until="commit", timeout=120_000)
            await drawn(page)
            times.append(time.perf_counter() - start)
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
        for key, info in DATASETS.items():
            config = TrainConfig(dataset=key)
            n = resources.largest_admitted_subset(config, info, free)
            full = resources.estimate_training_memory(config, info).total / MB
            admitted = "none" if n == 0 else ("all" if n == info.n_train else f"{n:,}")
            rows.append((f"{limit} MB", key, f"{free / MB:.0f}", f"{full:.0f}", admitted))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="of the background training")
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args()
    print_machine("A shared deployment: memory, memory guard, render times under load")
    if chromium_path() is None:
        print("Chromium not found: apt-get install chromium")
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        tmpdir = Path(tmp)
        store = tmpdir / "runs"
        store.mkdir()
        env = data_env(CNN_RUNS_DIR=str(store), CNN_PRIVATE_WORKSPACES="1")
        with StreamlitServer("app.py", env) as server:
            worker = start_worker(store, args.epochs, tmpdir)
            try:
                with RssPoller(server.pid) as server_poll, RssPoller(worker.pid) as worker_poll:
                    links, home_mb = visit_every_page(server.url, server.pid)
                    after_pages_mb = proc_status_kb(server.pid).get("VmRSS", 0) / 1024
                    urls = [server.url] + [href for _, href in links]
                    single = asyncio.run(render_times(urls * 2, 1))
                    many = asyncio.run(render_times(urls, args.sessions))
                    training = worker.poll() is None
                    both_peak = server_poll.peak_mb + worker_poll.peak_mb
            finally:
                stop_process_group(worker)
        measured_worker_mb = worker_poll.peak_mb

    still = "yes" if training else "NO"
    print(
        f"(a) peak RSS while training: server {server_poll.peak_mb:.0f} MB, worker "
        f"{measured_worker_mb:.0f} MB, together {both_peak:.0f} MB "
        f"(worker still training when the load ended: {still})"
    )
    print(f"(b) server RSS after visiting {len(links) + 1} pages: {after_pages_mb:.0f} MB\n")
    print("(c) page render time (navigation to a finished page), one training running")
    rows = []
    for label, times in (("1 session", single), (f"{args.sessions} sessions", many)):
        rows.append(
            (
                label,
                len(times),
                f"{statistics.median(times):.2f}",
                f"{percentile(times, 0.95):.2f}",
                f"{max(times):.2f}",
            )
        )
    print_table(("load", "renders", "median s", "p95 s", "max s"), rows)
    print()
    for label, server_mb in (("every page", after_pages_mb), ("Home only", home_mb)):
        batch = TrainConfig().fit.batch_size
        print(f"(d) memory guard, default CNN (batch {batch}), server after {label}: ", end="")
        print(f"{server_mb:.0f} MB")
        print_table(
            ("limit", "dataset", "free MB", "full-set estimate MB", "largest admitted train set"),
            guard_rows(server_mb),
        )
    sample = TrainConfig(dataset="mnist", train_subset=4500)
    estimate = resources.estimate_training_memory(sample, DATASETS["mnist"]).total / MB
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
