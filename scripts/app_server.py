"""One Streamlit server for tests, benchmarks and scripts, on a free port.

`StreamlitServer` runs `python -m streamlit run <script>` headless in its own
process group, waits until `/_stcore/health` answers "ok", keeps the server's
output in a temporary file, and stops the whole group on exit:

    with StreamlitServer("app.py", app_environment(tmp, data_dir)) as server:
        ...  # server.url, server.pid, server.output()

Import it as `scripts.app_server` with the project root on `sys.path` (pytest's
`pythonpath`, `benchmarks/common.py` and the scripts put it there). It imports
neither `tests` nor `cnn_core`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90.0  # a loaded 2-core machine can take a while to import Streamlit
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """End a child started with `start_new_session=True`: SIGTERM to its group, then SIGKILL.

    Training workers a server launched run in sessions of their own and are not touched.
    """
    if proc.poll() is not None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=timeout)


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group is the child's own (start_new_session)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def app_environment(
    root: Path,
    data_dir: Path | None = None,
    *,
    base: Mapping[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The app's environment: its own run store and Keras cache under `root`.

    Args:
        root: a scratch folder; runs go to `root/runs`, Keras' cache to `root/keras_home`.
        data_dir: CNN_DATA_DIR (None: whatever `base` says).
        base: the environment to start from (default: `os.environ`).
        **extra: more variables; these win over the ones above (e.g. CNN_RUNS_DIR).

    Returns:
        A whole environment for `StreamlitServer`.
    """
    env = dict(os.environ if base is None else base)
    env.update(CNN_RUNS_DIR=str(root / "runs"), KERAS_HOME=str(root / "keras_home"))
    if data_dir is not None:
        env["CNN_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


class StreamlitServer:
    """`python -m streamlit run <script>` on a free port, headless, in its own process group.

    Use as a context manager (started on entry, stopped on exit), or call `start`
    and `stop` yourself.

    Args:
        script: the entry script, relative to `cwd` or absolute.
        env: the server's whole environment (default: `os.environ`).
        cwd: its working directory (default: the project root, so the same
            `.streamlit/config.toml` applies to every script).
        port: where it listens (default: `free_port()`).
        python: the interpreter that runs Streamlit (default: this one).
        file_watcher: `--server.fileWatcherType` (default "none": tests and benchmarks
            never reload the app); None passes nothing, so `.streamlit/config.toml`
            decides, as under `make run`.
    """

    def __init__(
        self,
        script: str | Path = "app.py",
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO,
        port: int | None = None,
        python: str | Path | None = None,
        file_watcher: str | None = "none",
    ) -> None:
        self.script, self.cwd = Path(script), Path(cwd)
        self.python, self.file_watcher = str(python or sys.executable), file_watcher
        self.env = dict(os.environ if env is None else env)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: `http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the server has not been started")
        return self.proc.pid

    def command(self) -> list[str]:
        """The command line; it sets no upload option, so the config's limits apply."""
        watcher = (
            [] if self.file_watcher is None else ["--server.fileWatcherType", self.file_watcher]
        )
        return [
            self.python, "-m", "streamlit", "run", str(self.script),
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            *watcher,
        ]  # fmt: skip

    def start(self, timeout: float = START_TIMEOUT_S) -> StreamlitServer:
        """Start the server and wait until its health check says "ok".

        Raises:
            RuntimeError: it exited, or was not healthy within `timeout` seconds
                (the message holds its output; the server is stopped).
        """
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stop() ends it and its children
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                self.stop()
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode}:\n{output}")
            if self.healthy():
                return self
            time.sleep(0.2)
        output = self.output()
        self.stop()
        raise RuntimeError(
            f"streamlit did not answer on {self.url} within {timeout:.0f} s:\n{output}"
        )

    def healthy(self) -> bool:
        """Whether `/_stcore/health` answers "ok" right now."""
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.read().decode().strip() == "ok"
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def output(self, chars: int = 6000) -> str:
        """The last `chars` characters the server printed ("" once stopped)."""
        if self._log.closed:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    def stop(self) -> None:
        """Stop the server's process group (if started) and drop its output."""
        if self.proc is not None:
            stop_process_group(self.proc)
        self._log.close()

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
