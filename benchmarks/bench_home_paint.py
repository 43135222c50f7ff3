"""Home page paint time in headless Chromium, as a ratio to a one-line Streamlit app.

    .venv/bin/python benchmarks/bench_home_paint.py [--quick] [--rounds N]

Starts two Streamlit servers side by side: CNN Studio (`app.py`, with an empty
temp run store and CNN_DATA_DIR=../shared/data) and a reference app holding
only `st.title("hello")`. After one untimed warm-up visit to each, every round
opens a fresh browser context and page on each server (interleaved) and times
from `page.goto` until the app's title text is visible: the first paint of
content. Prints the medians and the ratio. Target: Home / hello <= 1.2x.

Then checks that Home renders without TensorFlow: whether the server process
has libtensorflow mapped after the visits, and `'tensorflow' in sys.modules`
after `AppTest.from_file("app.py").run()` in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    PYTHON,
    ROOT,
    SHARED_DATA,
    StreamlitServer,
    bench_env,
    chromium,
    loaded_libraries,
    median,
    print_machine,
    print_table,
    verdict,
)

TARGET = 1.2
HOME_TITLE = "CNN Studio"
HELLO_TITLE = "hello"
TIMEOUT_MS = 120_000

APPTEST_CHECK = """
import sys, time
from streamlit.testing.v1 import AppTest
start = time.perf_counter()
at = AppTest.from_file("app.py", default_timeout=120)
at.run()
seconds = time.perf_counter() - start
titles = [t.value for t in at.title]
print("titles:", titles)
print("exceptions:", [e.value for e in at.exception])
print(f"apptest_seconds: {seconds:.2f}")
print("tensorflow_in_sys_modules:", "tensorflow" in sys.modules)
print("keras_in_sys_modules:", "keras" in sys.modules)
"""


def time_paint(browser, url: str, title: str) -> float:
    """Seconds from goto until an h1 holding `title` is visible, in a fresh context."""
    context = browser.new_context()
    try:
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        page.locator("h1", has_text=title).first.wait_for(state="visible", timeout=TIMEOUT_MS)
        return time.perf_counter() - start
    finally:
        context.close()


def apptest_check(env: dict[str, str]) -> dict[str, str]:
    """Run Home through AppTest in a fresh interpreter; its printed facts."""
    proc = subprocess.run(
        [PYTHON, "-c", APPTEST_CHECK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    facts = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            facts[key] = value
    if proc.returncode != 0:
        facts["error"] = proc.stderr[-1500:]
    return facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 10")
    parser.add_argument("--rounds", type=int, help="timed rounds per app (default 10)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 10)
    print_machine("Home page paint time vs a one-line Streamlit app")

    with tempfile.TemporaryDirectory(prefix="bench-paint-") as tmp:
        tmpdir = Path(tmp)
        hello = tmpdir / "hello_app.py"
        hello.write_text('import streamlit as st\n\nst.title("hello")\n')
        extra = {"CNN_RUNS_DIR": str(tmpdir / "runs")}
        if SHARED_DATA.is_dir():
            extra["CNN_DATA_DIR"] = str(SHARED_DATA)
        env = bench_env(**extra)

        with (
            StreamlitServer(ROOT / "app.py", env=env) as app,
            StreamlitServer(hello, env=env) as ref,  # same cwd: same .streamlit config
            chromium() as browser,
        ):
            print(f"servers: CNN Studio {app.url} (pid {app.pid}), hello {ref.url} (pid {ref.pid})")
            cold_app = time_paint(browser, app.url, HOME_TITLE)
            cold_ref = time_paint(browser, ref.url, HELLO_TITLE)
            print(f"warm-up (first visit, untimed): Home {cold_app:.2f} s, hello {cold_ref:.2f} s")
            home, ref_times = [], []
            for i in range(rounds):
                # Alternate which goes first, so neither always follows the other.
                order = [("home", app.url, HOME_TITLE), ("hello", ref.url, HELLO_TITLE)]
                if i % 2:
                    order.reverse()
                for name, url, title in order:
                    seconds = time_paint(browser, url, title)
                    (home if name == "home" else ref_times).append(seconds)
            tf_libs = loaded_libraries(app.pid, "libtensorflow")
        print()
        rows = [
            (f"round {i + 1}", f"{h * 1000:.0f}", f"{r * 1000:.0f}", f"{h / r:.2f}x")
            for i, (h, r) in enumerate(zip(home, ref_times, strict=True))
        ]
        med_home, med_ref = median(home), median(ref_times)
        rows.append(("median", f"{med_home * 1000:.0f}", f"{med_ref * 1000:.0f}", ""))
        print_table(("round", "Home ms", "hello ms", "Home/hello"), rows)
        ratio = med_home / med_ref
        print()
        print(
            f"median Home {med_home * 1000:.0f} ms, hello {med_ref * 1000:.0f} ms: "
            f"ratio {ratio:.2f}x ({rounds} rounds, fresh context each)"
        )
        print(
            "server process has libtensorflow mapped after the visits: "
            f"{'YES ' + ', '.join(Path(p).name for p in tf_libs) if tf_libs else 'no'}"
        )
        facts = apptest_check(env)
        print(
            "AppTest.from_file('app.py').run() in a fresh process: "
            f"'tensorflow' in sys.modules = {facts.get('tensorflow_in_sys_modules', '?')}, "
            f"'keras' in sys.modules = {facts.get('keras_in_sys_modules', '?')}, "
            f"run took {facts.get('apptest_seconds', '?')} s, titles {facts.get('titles', '?')}"
        )
        if facts.get("error"):
            print(f"AppTest error:\n{facts['error']}")
        verdict(
            ratio <= TARGET,
            f"Home paints in {ratio:.2f}x the one-line app's time (target <= {TARGET}x)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
