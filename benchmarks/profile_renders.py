"""Where the server spends a page render's CPU time, under the bench_deploy load.

    .venv/bin/python benchmarks/profile_renders.py [--sessions 10] [--rounds 1] [--top 40]
                                                   [--warmup]

Serves `app.py` as `bench_deploy.py` does (private workspaces, a temp store, one
training worker), but through this file as a wrapper: every script run of the
server (one page render) runs under its own `cProfile.Profile` (cProfile follows
one thread, and Streamlit runs each session's script in a thread of its own) and
is dumped to a temp folder. Then `--sessions` protocol sessions open every page
(`protocol_client.py`), the server is stopped, and the summed profile of all
renders is printed: the functions with the most cumulative time, and the
project's own functions (`cnn_core/`, `pages/`) by their own time. With
`--warmup`, the same sessions first open every page once unprofiled in the sum
(TensorFlow's import, model loads, cold caches), so the sum is the steady state.

Run as `python benchmarks/profile_renders.py serve -- <streamlit run arguments>`
it is the wrapper itself (the benchmark starts it that way).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

PROFILE_DIR = "CNN_PROFILE_DIR"


def serve(argv: list[str]) -> None:
    """Run `streamlit <argv>` with every script run profiled into $CNN_PROFILE_DIR."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.web import cli

    out = Path(os.environ[PROFILE_DIR])
    counter = iter(range(10**9))
    lock = threading.Lock()
    original = script_runner.ScriptRunner._run_script

    def profiled(self: object, rerun_data: object) -> None:
        profile = cProfile.Profile()
        profile.enable()
        try:
            original(self, rerun_data)
        finally:
            profile.disable()
            with lock:
                number = next(counter)
            profile.dump_stats(out / f"render-{number:05d}.prof")

    script_runner.ScriptRunner._run_script = profiled
    sys.argv = ["streamlit", *argv]
    cli.main()


def main() -> int:
    from bench_deploy import start_worker
    from bench_memory import data_env
    from common import PYTHON, load_average, print_machine
    from protocol_client import concurrent_sessions

    from cnn_core.base import workspace
    from scripts.app_server import StreamlitServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--warmup", action="store_true", help="leave a first pass out of the sum")
    args = parser.parse_args()
    print_machine("Server CPU per page render (cProfile of every script run)")

    class ProfiledServer(StreamlitServer):
        def command(self) -> list[str]:
            return [PYTHON, __file__, "serve", "--", *super().command()[3:]]

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        tmpdir, profiles = Path(tmp), Path(tmp) / "profiles"
        (tmpdir / "runs").mkdir()
        profiles.mkdir()
        env = data_env(
            CNN_RUNS_DIR=str(tmpdir / "runs"),
            CNN_PRIVATE_WORKSPACES="1",
            **{PROFILE_DIR: str(profiles)},
        )
        with ProfiledServer("app.py", env) as server:
            worker = start_worker(tmpdir / "runs", 30, tmpdir)
            try:
                queries = [f"ws={workspace.new_workspace_id()}" for _ in range(args.sessions)]
                if args.warmup:
                    asyncio.run(concurrent_sessions(server.url, queries, 1))
                    time.sleep(1)  # the last warm-up profiles are written after script_finished
                warm = set(profiles.glob("*.prof"))
                renders = asyncio.run(concurrent_sessions(server.url, queries, args.rounds))
            finally:
                from scripts.app_server import stop_process_group

                stop_process_group(worker)
        files = sorted(set(profiles.glob("*.prof")) - warm)
        print(f"{len(renders)} renders ({sum(not r.ok for r in renders)} failed), ", end="")
        print(f"{len(files)} script runs profiled", end="")
        print(f" ({len(warm)} warm-up runs left out)" if warm else "", end="")
        print(f", load average {load_average()}\n")
        stats = pstats.Stats(str(files[0]), stream=(text := io.StringIO()))
        for path in files[1:]:
            stats.add(str(path))
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(r"cnn_core|/pages/", args.top)
    print(text.getvalue())
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        serve(sys.argv[3:] if sys.argv[2] == "--" else sys.argv[2:])
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        sys.exit(main())
