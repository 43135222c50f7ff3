"""Shared helpers for the benchmark scripts (they print figures; nothing here asserts).

Importing this module puts the project root on `sys.path`, so the scripts can
import `cnn_core` and `scripts` when run as `.venv/bin/python benchmarks/<name>.py`
(import `common` first). The Streamlit server and headless Chromium are the ones
tests and scripts use: `scripts.app_server` and `scripts.browser`.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cnn_core.base.cpu import CPUINFO, cpu_flags, cpuinfo_field  # noqa: E402
from scripts.app_server import stop_process_group  # noqa: E402 - needs ROOT on sys.path
from scripts.browser import wait_until_idle  # noqa: E402

# The offline datasets (../shared/data from the project root); override with $CNN_DATA_DIR.
SHARED_DATA = Path(os.environ.get("CNN_DATA_DIR") or ROOT.parent / "shared" / "data")
PYTHON = sys.executable
MB = 1024 * 1024


# ----------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform's guess)."""
    with contextlib.suppress(OSError):
        name = cpuinfo_field(CPUINFO.read_text(encoding="utf-8", errors="replace"), "model name")
        if name:
            return name
    return platform.processor() or "unknown CPU"


def cpu_count() -> int:
    """What `nproc` says: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_peak_gflops() -> float | None:
    """The CPUs' nominal float32 peak, GFLOP/s: cores x clock x FLOPs a cycle (2 FMA
    units x the vector's float32 lanes x 2: AVX-512 16 lanes, AVX2 with FMA 8, else
    SSE 4), from /proc/cpuinfo's flags and `cpu MHz`. None where it cannot be read.
    Nominal: some CPUs have one AVX-512 FMA unit, and clocks move with load."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
        mhz = float(cpuinfo_field(text, "cpu MHz") or "nan")
    except (OSError, ValueError):
        return None
    if not math.isfinite(mhz):
        return None
    flags = cpu_flags(text)
    lanes = 16 if "avx512f" in flags else 8 if {"avx2", "fma"} <= flags else 4
    return cpu_count() * mhz / 1000 * 2 * lanes * 2


def total_memory_mb() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024
    return None


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "n/a"


def print_machine(title: str) -> None:
    """The benchmark's title and the machine it runs on."""
    mem = total_memory_mb()
    print(f"== {title} ==")
    print(
        f"machine: nproc={cpu_count()}, CPU: {cpu_model()}, "
        f"RAM: {f'{mem / 1024:.1f} GB' if mem else 'n/a'}, load average: {load_average()}"
    )
    print(f"python: {platform.python_version()} ({PYTHON})")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    print()


# ----------------------------------------------------------------------------- numbers


def median(values: Sequence[float]) -> float:
    """The median (float('nan') for an empty sequence)."""
    return statistics.median(values) if values else float("nan")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain, aligned text table (first column left-aligned, the rest right)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return "  ".join(parts).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def verdict(ok: bool, text: str) -> None:
    """The one-line verdict against the target."""
    print(f"VERDICT: {'PASS' if ok else 'MISS'} - {text}")


# ----------------------------------------------------------------------------- memory


def proc_status_kb(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a live process in kB ({} once it is gone)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


class RssPoller:
    """Poll a pid's /proc status in a thread; remember the highest VmHWM/VmRSS seen.

    VmHWM vanishes with the process, so for a child that exits use `wait_peak_rss`
    (the kernel's exact maximum) and this poller only as a cross-check.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval = pid, interval
        self.peak_hwm_kb = self.peak_rss_kb = self.last_rss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        status = proc_status_kb(self.pid)
        if status:
            self.peak_hwm_kb = max(self.peak_hwm_kb, status.get("VmHWM", 0))
            self.last_rss_kb = status.get("VmRSS", 0)
            self.peak_rss_kb = max(self.peak_rss_kb, self.last_rss_kb)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mb(self) -> float:
        return max(self.peak_hwm_kb, self.peak_rss_kb) / 1024


def wait_peak_rss(proc: subprocess.Popen, timeout: float | None = None) -> tuple[int, float]:
    """Wait for a child; return (exit code, its peak RSS in MB from the kernel's rusage).

    `os.wait4` reports ru_maxrss (kB on Linux) for exactly this child, the same
    figure VmHWM showed just before it exited.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss / 1024
        if deadline is not None and time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout or 0)
        time.sleep(0.1)


# ----------------------------------------------------------------------------- processes


def bench_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: project on PYTHONPATH, quiet TensorFlow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def train_with_worker_cli(config: object, env: dict[str, str], timeout: float) -> dict:
    """Train `config` (a TrainConfig) through `python -m cnn_core.training.worker` in a temp store.

    Returns exit code, wall seconds, peak RSS (kernel `ru_maxrss`, and the /proc
    poller's cross-check), the output tail, and what the run folder says: state,
    message, train seconds, split sizes, test accuracy, epochs run, best
    validation accuracy.
    """
    import json

    from cnn_core.store.runs import list_runs

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        tmpdir = Path(tmp)
        cfg = tmpdir / "cfg.json"
        cfg.write_text(json.dumps(config.to_dict()))  # type: ignore[attr-defined]
        runs_dir = tmpdir / "runs"
        with open(tmpdir / "worker.out", "w+b") as log:
            start = time.perf_counter()
            command = [PYTHON, "-m", "cnn_core.training.worker", "--config", str(cfg)]
            proc = subprocess.Popen(
                [*command, "--runs-dir", str(runs_dir)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                with RssPoller(proc.pid) as poller:
                    code, peak_mb = wait_peak_rss(proc, timeout=timeout)
            finally:
                stop_process_group(proc)
            wall = time.perf_counter() - start
            log.seek(0)
            output = log.read().decode(errors="replace")
        result: dict = {
            "exit": code,
            "wall_s": wall,
            "peak_mb": peak_mb,
            "polled_mb": poller.peak_mb,
            "output": output[-2500:],
            "state": "?",
            "message": "",
        }
        for run in list_runs(runs_dir):
            status = run.status
            evaluation = run.read_evaluation()
            result.update(
                state=str(run.state),
                message=run.message,
                train_s=status.train_seconds if status else None,
                n_train=status.n_train if status else None,
                n_val=status.n_val if status else None,
                accuracy=run.test_accuracy,
                # a run with test-time flips: its accuracy on single images (else None)
                single_accuracy=evaluation.single_accuracy if evaluation else None,
                epochs_run=run.epochs_done,
                best_val=run.best_val_accuracy,
                epochs=[(record.phase, record.seconds) for record in run.read_history()],
                history=run.read_history(),
            )
        return result


def loaded_libraries(pid: int, needle: str) -> list[str]:
    """Mapped files of a live process whose path contains `needle`."""
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return []
    found = {line.split()[-1] for line in lines if needle in line and "/" in line}
    return sorted(found)


def script_settled(page: object, timeout_s: float = 180.0, settle_s: float = 1.5) -> bool:
    """Whether the app's script run ended (quiet for `settle_s`) within `timeout_s`.

    `scripts.browser.wait_until_idle`, answering instead of raising.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        wait_until_idle(page, timeout_ms=timeout_s * 1000, settle_ms=settle_s * 1000)
    except (TimeoutError, PlaywrightTimeout):
        return False
    return True
