"""The Streamlit server's own CPU use, started the way `make run` starts it.

`make run` runs `.venv/bin/python -m streamlit run app.py --server.port P` in the
project folder, with a real `.venv` and the default run store `runs/` inside it,
and without `--server.fileWatcherType`: `.streamlit/config.toml` decides. This
script copies the project's tracked files into a temporary folder, gives it a
`.venv` that is a real directory tree (its files are links to this interpreter's
virtualenv, so a file watcher walks every folder of it, as in a fresh clone),
and starts the server there through `scripts.app_server.StreamlitServer` with no
watcher override. It then reads the server's utime + stime from
`/proc/<pid>/stat` over three phases:

1. idle, no browser (`--idle` seconds): Streamlit sets up its file watcher
   only when a session starts, so this is the floor;
2. idle, Home open in headless Chromium (`--idle` seconds): the watcher runs;
3. training: one training run (`python -m cnn_core.training.worker` in the served
   `runs/`, stopped after `--train` seconds) with the Train page open, whose
   live monitor polls the run;
4. after: the run stopped, the Train page still open (`--after` seconds);
5. after, the browser closed (`--after` seconds).

`--watcher auto|none|...` passes `--server.fileWatcherType` to compare settings.
Only 127.0.0.1 is contacted; every phase is bounded in time. The worker's CPU is
not counted: it is its own process.

    .venv/bin/python benchmarks/bench_server_cpu.py [--idle 60] [--train 90] [--after 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - puts the project root on sys.path
from common import ROOT, SHARED_DATA, bench_env, load_average, print_machine, print_table, verdict

from cnn_core.schema.config import FitSpec, TrainConfig
from cnn_core.schema.records import RunState
from cnn_core.store.folder import RunFolder
from cnn_core.store.runs import list_runs
from scripts.app_server import StreamlitServer, stop_process_group
from scripts.browser import chromium, wait_until_idle
from scripts.synthetic_data import write_all

TICKS = os.sysconf("SC_CLK_TCK")
IDLE_TARGET = 0.05  # of one core
PAGE_TIMEOUT_MS = 180_000


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` so far, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(pid: int, seconds: float, phase: str) -> tuple[str, float, float, str]:
    """(phase, CPU seconds, wall seconds, load average) of `pid` over the next `seconds`."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu, wall = cpu_seconds(pid) - start_cpu, time.monotonic() - start
    print(f"{phase}: {cpu:.1f} CPU s in {wall:.0f} s ({cpu / wall:.1%} of a core)", flush=True)
    return phase, cpu, wall, load_average()


def copy_project(dest: Path) -> None:
    """The project's files (tracked or new, not ignored), and a `.venv` whose folders are real."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    venv = Path(sys.prefix).resolve()
    for folder, dirs, files in os.walk(venv):
        target = dest / ".venv" / Path(folder).relative_to(venv)
        target.mkdir(parents=True, exist_ok=True)
        for name in files + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            (target / name).symlink_to(Path(folder) / name)


def start_training(project: Path) -> subprocess.Popen:
    """The default CNN on MNIST in the served `runs/`, trained until stopped."""
    config = TrainConfig(fit=FitSpec(epochs=50, early_stopping=False), name="bench_server_cpu")
    path = project / "cpu_bench_cfg.json"
    path.write_text(json.dumps(config.to_dict()))
    command = [
        str(project / ".venv/bin/python"),
        "-m",
        "cnn_core.training.worker",
        "--config",
        str(path),
    ]
    command += ["--runs-dir", str(project / "runs")]
    return subprocess.Popen(
        command,
        cwd=project,
        env=bench_env(CNN_DATA_DIR=str(data_dir(project))),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def data_dir(project: Path) -> Path:
    """The offline datasets (as `make run` finds them), else generated look-alikes."""
    if (SHARED_DATA / "mnist").is_dir():
        return SHARED_DATA
    synthetic = project.parent / "synthetic_data"
    if not synthetic.is_dir():
        write_all(synthetic)
    return synthetic


def wait_for_running(project: Path, timeout: float = 240.0) -> RunFolder:
    """The run folder once its worker has started its batches."""
    store = project / "runs"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in list_runs(store) if store.is_dir() else []:
            folder = RunFolder(store / run.run_id)
            if run.state == RunState.RUNNING and folder.read_progress() is not None:
                return folder
        time.sleep(1)
    raise RuntimeError(f"no training started within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--train", type=float, default=90.0)
    parser.add_argument("--after", type=float, default=60.0)
    parser.add_argument(
        "--watcher", default=None, help="--server.fileWatcherType (default: config)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server and worker too
    print_machine("Streamlit server CPU, started as `make run` starts it")
    with tempfile.TemporaryDirectory(prefix="bench_cpu_") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        began = time.monotonic()
        copy_project(project)
        print(f"project copy with a real .venv tree: {time.monotonic() - began:.0f} s")
        env = bench_env(CNN_DATA_DIR=str(data_dir(project)))
        for name in ("CNN_RUNS_DIR", "CNN_PRIVATE_WORKSPACES", "PYTHONPATH"):
            env.pop(name, None)  # the default store runs/ inside the project, like make run
        server = StreamlitServer(
            "app.py",
            env,
            cwd=project,
            python=project / ".venv/bin/python",
            file_watcher=args.watcher,
        )
        rows = []
        with server:
            print(f"server command: {' '.join(server.command()[1:])}")
            print(f"start-up CPU: {cpu_seconds(server.pid):.1f} s")
            rows.append(measure(server.pid, args.idle, "idle, no browser"))
            with chromium() as browser:
                page = browser.new_context().new_page()
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                page.goto(server.url)
                wait_until_idle(page, timeout_ms=PAGE_TIMEOUT_MS)
                rows.append(measure(server.pid, args.idle, "idle, Home open"))
                worker = start_training(project)
                try:
                    run = wait_for_running(project)
                    page.goto(f"{server.url}/train")
                    wait_until_idle(page, timeout_ms=PAGE_TIMEOUT_MS)
                    rows.append(measure(server.pid, args.train, "training, Train page open"))
                    run.request_stop()
                    worker.wait(timeout=300)
                    time.sleep(5)  # the monitor notices the end and stops polling
                    rows.append(measure(server.pid, args.after, "after, Train page open"))
                finally:
                    stop_process_group(worker)
            rows.append(measure(server.pid, args.after, "after, browser closed"))
    table = [
        (phase, f"{wall:.0f}", f"{cpu:.1f}", f"{cpu / wall:.1%}", load)
        for phase, cpu, wall, load in rows
    ]
    print_table(["phase", "wall s", "server CPU s", "of one core", "load average"], table)
    idle = max(cpu / wall for phase, cpu, wall, _ in rows if phase.startswith("idle"))
    verdict(idle < IDLE_TARGET, f"idle server {idle:.1%} of a core (target < {IDLE_TARGET:.0%})")


if __name__ == "__main__":
    main()
