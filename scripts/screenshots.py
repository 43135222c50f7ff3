"""Save a full-page PNG of every page of the app, for reviewing layout by eye.

    python scripts/screenshots.py OUTDIR [--data-dir DIR] [--runs-dir DIR] [--width PX]

Starts the app on a free port, opens each page listed in the sidebar in a headless
Chromium (Debian's, `apt-get install chromium`), waits until the page has settled and
writes `OUTDIR/NN-<page>.png`. Datasets come from `--data-dir`, else `../shared/data`
when present, else small generated look-alikes; runs from `--runs-dir` (point it at a
real run store to see the run pages filled in), else an empty temporary folder.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.app_server import StreamlitServer, app_environment  # noqa: E402 - after sys.path
from scripts.browser import (  # noqa: E402
    MISSING_CHROMIUM,
    chromium,
    chromium_path,
    full_page_screenshot,
    wait_until_idle,
)

SHARED_DATA = REPO.parent / "shared" / "data"
PAGE_TIMEOUT_MS = 120_000  # the first page that imports TensorFlow takes a while
SETTLE_MS = 1500  # no script run for this long: the page is drawn


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="folder for the PNG files (created)")
    parser.add_argument("--data-dir", type=Path, help="CNN_DATA_DIR (default: ../shared/data)")
    parser.add_argument("--runs-dir", type=Path, help="CNN_RUNS_DIR (default: an empty temp dir)")
    parser.add_argument("--width", type=int, default=1400, help="viewport width in pixels")
    return parser.parse_args(argv)


def data_dir(chosen: Path | None, scratch: Path) -> Path:
    """The dataset folder to use: the chosen one, the shared one, or generated data."""
    if chosen is not None:
        return chosen.resolve()
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    from scripts.synthetic_data import write_all

    print(f"no {SHARED_DATA}: using generated look-alike datasets")
    return write_all(scratch / "data")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "page"


def sidebar_pages(page) -> list[tuple[str, str]]:
    """(title, url) of every page link in the sidebar navigation, in order."""
    links = page.locator('[data-testid="stSidebarNavLink"]')
    links.first.wait_for(timeout=PAGE_TIMEOUT_MS)
    pages = []
    for link in links.all():
        lines = [line.strip() for line in link.inner_text().splitlines() if line.strip()]
        title = lines[-1] if lines else "page"  # the text before it is the icon's name
        pages.append((title, link.get_attribute("href")))
    return pages


def settle(page) -> None:
    """Wait for the page's script run (and the charts it drew) to finish."""
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page, timeout_ms=PAGE_TIMEOUT_MS, settle_ms=SETTLE_MS)
    page.wait_for_timeout(500)  # Plotly animates its first draw


def capture(outdir: Path, url: str, width: int) -> list[Path]:
    written = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.goto(url)
        settle(page)
        for number, (title, href) in enumerate(sidebar_pages(page), start=1):
            started = time.monotonic()
            page.goto(href)
            settle(page)
            path = outdir / f"{number:02d}-{slug(title)}.png"
            full_page_screenshot(page, path)
            written.append(path)
            print(f"{path}  ({title}, {time.monotonic() - started:.1f} s)")
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if chromium_path() is None:
        print(MISSING_CHROMIUM)
        return 2
    args.outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cnn-screens-") as scratch:
        scratch_dir = Path(scratch)
        env = app_environment(scratch_dir, data_dir(args.data_dir, scratch_dir))
        if args.runs_dir:
            env["CNN_RUNS_DIR"] = str(args.runs_dir.resolve())
        if "KERAS_HOME" in os.environ:  # its cache may hold the datasets
            env["KERAS_HOME"] = os.environ["KERAS_HOME"]
        with StreamlitServer("app.py", env) as server:
            capture(args.outdir, f"{server.url}/", args.width)
    return 0


if __name__ == "__main__":
    sys.exit(main())
