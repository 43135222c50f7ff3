"""Home page paint time in headless Chromium, as a ratio to a one-line Streamlit app.

    .venv/bin/python benchmarks/bench_home_paint.py [--quick] [--rounds N] [--cold N]

Both apps are served the same way (`scripts.app_server.StreamlitServer`, same
working directory, so the same `.streamlit/config.toml`): CNN Studio (`app.py`,
with an empty temp run store and CNN_DATA_DIR=../shared/data) and a reference app
holding only `st.title("hello")`. A visit is a fresh browser context and page,
timed from `page.goto` until the app's title text is visible: the first paint of
content.

Cold: the first visit after the server starts. Each sample starts a fresh server
process, waits for its health check, times one visit and stops it; samples of
the two apps alternate. Target: Home / hello <= 1.5x.

Warm: the two servers side by side; after one untimed visit to each, every round
visits each server once (interleaved). Target: Home / hello <= 1.2x.

Then checks that Home renders without TensorFlow: whether the warm server process
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
    bench_env,
    loaded_libraries,
    median,
    print_machine,
    print_table,
    verdict,
)

from scripts.app_server import StreamlitServer, app_environment
from scripts.browser import chromium

WARM_TARGET = 1.2
COLD_TARGET = 1.5
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


def paint_table(home: list[float], hello: list[float], label: str) -> float:
    """Print each sample and the medians; return the ratio of the medians (Home / hello)."""
    rows = [
        (f"{label} {i + 1}", f"{h * 1000:.0f}", f"{r * 1000:.0f}", f"{h / r:.2f}x")
        for i, (h, r) in enumerate(zip(home, hello, strict=True))
    ]
    med_home, med_hello = median(home), median(hello)
    ratio = med_home / med_hello
    rows.append(("median", f"{med_home * 1000:.0f}", f"{med_hello * 1000:.0f}", f"{ratio:.2f}x"))
    print_table((label, "Home ms", "hello ms", "Home/hello"), rows)
    return ratio


def measure_cold(browser, apps: list[tuple[str, Path | str, str]], env, samples: int) -> dict:
    """First visits to freshly started servers: {app name: [seconds, ...]}."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in apps}
    for i in range(samples):
        order = apps if i % 2 == 0 else apps[::-1]  # neither always starts second
        for name, script, title in order:
            with StreamlitServer(script, env) as server:
                times[name].append(time_paint(browser, server.url, title))
    return times


def measure_warm(browser, home: StreamlitServer, hello: StreamlitServer, rounds: int) -> dict:
    """Visits to servers that have served a page already: {app name: [seconds, ...]}."""
    first = time_paint(browser, home.url, HOME_TITLE), time_paint(browser, hello.url, HELLO_TITLE)
    print(f"warm-up (first visit, untimed): Home {first[0]:.2f} s, hello {first[1]:.2f} s")
    times: dict[str, list[float]] = {"home": [], "hello": []}
    order = [("home", home.url, HOME_TITLE), ("hello", hello.url, HELLO_TITLE)]
    for i in range(rounds):
        for name, url, title in order if i % 2 == 0 else order[::-1]:
            times[name].append(time_paint(browser, url, title))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, 2 cold samples")
    parser.add_argument("--rounds", type=int, help="warm rounds per app (default 10)")
    parser.add_argument("--cold", type=int, help="cold samples per app (default 5)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 10)
    cold_samples = args.cold or (2 if args.quick else 5)
    print_machine("Home page paint time vs a one-line Streamlit app")

    with tempfile.TemporaryDirectory(prefix="bench-paint-") as tmp:
        tmpdir = Path(tmp)
        hello = tmpdir / "hello_app.py"
        hello.write_text('import streamlit as st\n\nst.title("hello")\n')
        data_dir = SHARED_DATA if SHARED_DATA.is_dir() else None
        env = app_environment(tmpdir, data_dir, base=bench_env())
        apps = [("home", "app.py", HOME_TITLE), ("hello", hello, HELLO_TITLE)]

        with chromium() as browser:
            cold = measure_cold(browser, apps, env, cold_samples)
            with StreamlitServer("app.py", env) as app, StreamlitServer(hello, env) as ref:
                print(f"warm servers: CNN Studio {app.url} (pid {app.pid}), hello {ref.url}")
                warm = measure_warm(browser, app, ref, rounds)
                tf_libs = loaded_libraries(app.pid, "libtensorflow")

        print()
        print(f"Cold: first visit after the server starts ({cold_samples} fresh servers per app)")
        cold_ratio = paint_table(cold["home"], cold["hello"], "sample")
        print()
        print(f"Warm: servers that have served a page ({rounds} rounds, fresh context each)")
        warm_ratio = paint_table(warm["home"], warm["hello"], "round")
        print()
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
            cold_ratio <= COLD_TARGET,
            f"Home's cold first visit paints in {cold_ratio:.2f}x the one-line app's "
            f"(target <= {COLD_TARGET}x)",
        )
        verdict(
            warm_ratio <= WARM_TARGET,
            f"Home's warm visit paints in {warm_ratio:.2f}x the one-line app's "
            f"(target <= {WARM_TARGET}x)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
