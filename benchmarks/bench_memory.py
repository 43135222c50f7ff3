"""Peak memory: the training worker, and the Streamlit server after visiting every page.

    .venv/bin/python benchmarks/bench_memory.py [--quick] [--skip-worker] [--skip-server]

(a) The worker training the default CNN on MNIST (the 5,000-image sample from
    ../shared/data) through its command line,
    `python -m cnn_core.training.worker --config cfg.json --runs-dir <tmp>`, for 2 epochs
    (`--quick`: 1). Peak RSS is the kernel's maximum for that child
    (`os.wait4` ru_maxrss, i.e. its final VmHWM), cross-checked by polling
    /proc/<pid>/status. Target: < 1.5 GB.
(b) `streamlit run app.py` with CNN_DATA_DIR=../shared/data and an empty temp run
    store, while a headless Chromium opens Home and then clicks every page link
    in the sidebar, waiting on each until the script has stopped running. Prints
    VmRSS / VmHWM of the server process after each page. No target of its own;
    for scale, Streamlit Community Cloud gives an app about 1-2.7 GB in all.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import (
    SHARED_DATA,
    RssPoller,
    bench_env,
    loaded_libraries,
    print_machine,
    print_table,
    proc_status_kb,
    script_settled,
    train_with_worker_cli,
    verdict,
)

from scripts.app_server import StreamlitServer
from scripts.browser import chromium

WORKER_TARGET_MB = 1.5 * 1024
CLOUD_RANGE = "about 1-2.7 GB"
SETTLE_TIMEOUT_S = 180.0


def data_env(**extra: str) -> dict[str, str]:
    """`bench_env` with the shared datasets when they are there."""
    if SHARED_DATA.is_dir():
        extra.setdefault("CNN_DATA_DIR", str(SHARED_DATA))
    return bench_env(**extra)


def measure_worker(epochs: int) -> dict:
    """Train the default CNN on MNIST in a worker subprocess; its peak RSS and outcome."""
    from cnn_core.schema.config import FitSpec, TrainConfig

    config = TrainConfig(dataset="mnist", fit=FitSpec(epochs=epochs), name="bench_memory")
    return train_with_worker_cli(config, data_env(), timeout=3600)


def sidebar_links(page) -> list[tuple[str, str]]:
    """(label, href) of every page link in the sidebar navigation."""
    more = page.locator('[data-testid="stSidebarNavViewButton"]')
    if more.count() and "more" in (more.first.inner_text() or ""):
        more.first.click()
        page.wait_for_timeout(300)
    links = page.locator('[data-testid="stSidebarNavLink"]')
    out = []
    for i in range(links.count()):
        link = links.nth(i)
        lines = [t.strip() for t in (link.inner_text() or "").splitlines() if t.strip()]
        out.append((lines[-1] if lines else f"link {i}", link.get_attribute("href")))
    return out


def measure_server() -> tuple[list[tuple], dict]:
    """Visit every sidebar page in one browser session; per-page server memory."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-mem-server-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "runs").mkdir()
        env = data_env(CNN_RUNS_DIR=str(tmpdir / "runs"))
        with StreamlitServer("app.py", env) as server:
            pid = server.pid

            def row(label: str, seconds: float | str, settled: bool, errors: int) -> None:
                kb = proc_status_kb(pid)
                rows.append(
                    (
                        label,
                        seconds if isinstance(seconds, str) else f"{seconds:.1f}",
                        "yes" if settled else "NO (timed out)",
                        str(errors),
                        f"{kb.get('VmRSS', 0) / 1024:.0f}",
                        f"{kb.get('VmHWM', 0) / 1024:.0f}",
                    )
                )

            row("(server started, no visit)", "-", True, 0)
            with RssPoller(pid) as poller, chromium() as browser:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                start = time.perf_counter()
                page.goto(server.url, wait_until="commit", timeout=120_000)
                settled = script_settled(page, SETTLE_TIMEOUT_S)
                errors = page.locator('[data-testid="stException"]').count()
                row("Home (first visit)", time.perf_counter() - start, settled, errors)
                links = sidebar_links(page)
                for label, href in links:
                    start = time.perf_counter()
                    page.locator(f'[data-testid="stSidebarNavLink"][href="{href}"]').first.click()
                    settled = script_settled(page, SETTLE_TIMEOUT_S)
                    errors = page.locator('[data-testid="stException"]').count()
                    row(label, time.perf_counter() - start, settled, errors)
                page.close()
            final = proc_status_kb(pid)
            facts = {
                "pages": [label for label, _ in links],
                "final_rss_mb": final.get("VmRSS", 0) / 1024,
                "peak_mb": max(final.get("VmHWM", 0) / 1024, poller.peak_mb),
                "tensorflow_loaded": bool(loaded_libraries(pid, "libtensorflow")),
                "children": _child_pids(pid),
            }
    return rows, facts


def _child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train 1 epoch instead of 2")
    parser.add_argument("--skip-worker", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    print_machine("Peak memory: training worker and Streamlit server")
    if not SHARED_DATA.is_dir():
        print(f"note: {SHARED_DATA} not found; the worker will fail without MNIST\n")

    worker = None
    if not args.skip_worker:
        epochs = 1 if args.quick else 2
        print(f"(a) worker: default CNN preset, MNIST 5,000-image sample, {epochs} epoch(s) ...")
        worker = measure_worker(epochs)
        acc = worker["accuracy"]
        print_table(
            ("worker run", "exit", "state", "train s", "wall s", "test acc", "peak RSS MB"),
            [
                (
                    f"mnist, {epochs} epoch(s), n_train={worker['n_train']}",
                    worker["exit"],
                    worker["state"],
                    f"{worker['train_s']:.1f}" if worker["train_s"] else "-",
                    f"{worker['wall_s']:.1f}",
                    f"{acc:.2%}" if acc is not None else "-",
                    f"{worker['peak_mb']:.0f}",
                )
            ],
        )
        print(
            f"peak RSS {worker['peak_mb']:.0f} MB (kernel ru_maxrss); "
            f"polled /proc VmHWM {worker['polled_mb']:.0f} MB"
        )
        if worker["exit"] != 0 or worker["state"] != "completed":
            print(f"worker did not complete: {worker['message']}\n{worker['output']}")
        print()

    server = None
    if not args.skip_server:
        print("(b) Streamlit server: Home, then every sidebar page (one browser session) ...")
        rows, server = measure_server()
        print_table(
            ("after visiting", "seconds", "settled", "errors", "VmRSS MB", "VmHWM MB"), rows
        )
        print(
            f"server peak RSS {server['peak_mb']:.0f} MB, final {server['final_rss_mb']:.0f} MB; "
            f"TensorFlow loaded in the server: {'yes' if server['tensorflow_loaded'] else 'no'}; "
            f"child processes left: {server['children'] or 'none'}"
        )
        print()

    print("Summary")
    summary = []
    if worker:
        summary.append(("(a) worker peak RSS", f"{worker['peak_mb']:.0f} MB", "< 1536 MB"))
    if server:
        summary.append(("(b) server peak RSS", f"{server['peak_mb']:.0f} MB", "(none)"))
    if worker and server:
        total = worker["peak_mb"] + server["peak_mb"]
        summary.append(("(a) + (b)", f"{total:.0f} MB", f"for scale: Cloud {CLOUD_RANGE}"))
    print_table(("figure", "value", "target"), summary)
    if worker:
        ok = worker["peak_mb"] < WORKER_TARGET_MB and worker["exit"] == 0
        verdict(
            ok,
            f"worker peak RSS {worker['peak_mb']:.0f} MB (target < {WORKER_TARGET_MB:.0f} MB"
            f" = 1.5 GB){'' if worker['exit'] == 0 else '; the worker FAILED'}",
        )
    elif server:
        print(f"server peak RSS {server['peak_mb']:.0f} MB (no target; Cloud {CLOUD_RANGE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
