"""AppTest helpers for the page tests: open the app on a page, read what it says.

Pages are always opened through app.py (its navigation and page config), as a
browser opens them. The run store and datasets are the test's own (conftest's
autouse `isolated_store`).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.schema.config import TrainConfig
from cnn_core.store.folder import RunFolder, create_run
from cnn_core.training import worker
from pages._shared import compare_actions, doctor_view
from tests.conftest import REPO

APP = REPO / "app.py"
TIMEOUT_S = 120  # a page's first run may import TensorFlow on a loaded 2-core machine

# Run in a fresh interpreter by `open_in_fresh_process`: the app, then argv[1] if given.
FRESH_PROCESS_CODE = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=float(sys.argv[1])).run()
if len(sys.argv) > 2:
    at.switch_page(sys.argv[2]).run()
print(json.dumps({
    "exceptions": [e.value for e in at.exception],
    "errors": [e.value for e in at.error],
    "titles": [t.value for t in at.title],
    "metrics": [m.value for m in at.metric],
    "tf": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")),
}))
"""


def open_app(page: str | None = None, timeout: float = TIMEOUT_S) -> AppTest:
    """Run app.py (Home), then switch to `page` ("pages/train.py") if given.

    Fails the test when the script raised.
    """
    at = AppTest.from_file(str(APP), default_timeout=timeout).run()
    if page:
        at.switch_page(page).run()
    assert_no_exception(at)
    return at


def open_with_query(page: str, **params: str) -> AppTest:
    """`page` opened from a link whose URL query holds `params` (run=..., runs=...).

    Fails the test when the script raised.
    """
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.query_params.update(params)
    at.run()
    at.switch_page(page).run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    """Fail with the exceptions' messages when the last run raised."""
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    """Every markdown, caption, error, warning, info and success text, one a line."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [i.value for i in at.info] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


def launches_without_a_worker(monkeypatch: pytest.MonkeyPatch) -> list[RunFolder]:
    """Make every launch button (Train, Compare's pairs and seeds, the doctor's retry)
    create its run without starting a worker process; the list fills with the runs
    launched. A page script re-imports `launch_run` on every run, so patching the
    worker module reaches it; the page helpers keep their own reference."""
    launched: list[RunFolder] = []

    def launch(config: TrainConfig) -> tuple[RunFolder, bool]:
        launched.append(create_run(config))
        return launched[-1], True

    for module in (worker, compare_actions, doctor_view):
        monkeypatch.setattr(module, "launch_run", launch)
    return launched


def open_in_fresh_process(page: str | None = None, timeout: float = TIMEOUT_S) -> dict:
    """Open the app (and `page`) with AppTest in a new interpreter; what it showed.

    For checks on what a page imports (a test process may have TensorFlow loaded).

    Returns:
        {"exceptions", "errors", "titles", "metrics": lists of their values,
        "tf": the tensorflow/keras modules loaded, sorted}.
    """
    command = [sys.executable, "-c", FRESH_PROCESS_CODE, str(timeout), *([page] if page else [])]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout + 60)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
