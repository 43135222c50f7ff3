"""The training worker process, and how the app launches it.

    python -m cnn_core.training.worker runs/<run_id>          train an existing run folder
    python -m cnn_core.training.worker --lr-test DIR          run a learning-rate range test
    python -m cnn_core.training.worker --config my.json       create a run from a config file
                              [--runs-dir DIR]       and train it (headless)
                              [--strategy S]         default, mirrored (every GPU here)
                                                     or multiworker (machines in TF_CONFIG)

The worker is a separate process in its own session: a closed browser tab, a
page change or a Streamlit restart never stops it, and an out-of-memory kill
takes only the worker. At most `max_concurrent()` workers train at once
(`$CNN_MAX_TRAININGS`, default 1); later ones wait in the `queued` state, in
launch order, for a slot (an exclusive file lock the kernel releases even when
a worker is SIGKILLed). The slots belong to the whole store, so private
workspaces (`cnn_core.base.workspace`) share them; each workspace may have at most
`workspace.max_queued()` runs waiting.

A learning-rate range test (`cnn_core.training.lr_finder`, `launch_lr_test`) runs through
the same process, outside the training slots, in a slot of its own (one test
at a time in the store): a training may hold its slot for an hour, and a test
queued behind it would come too late to choose the rate; a test is bounded to a
few hundred batches (a minute or so on a CPU), so the one test slot frees
quickly, and a shared deployment runs at most one TensorFlow process more than
its training slots. A workspace has at most one test active at a time.

Before training, the worker checks that the run fits in the memory left to it
(`cnn_core.training.resources`), and a full disk ends a run as *failed* with a message
that says so; both keep the run's earlier files.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from cnn_core.base import settings, workspace
from cnn_core.base.errors import UserError
from cnn_core.data.registry import dataset_info
from cnn_core.schema.config import FIT_FIELDS, TrainConfig, validate
from cnn_core.schema.records import SCHEMA_VERSION, RunState, record_version
from cnn_core.store.folder import LrTestFolder, RunFolder, create_run, runs_root
from cnn_core.store.lr_tests import create_lr_test, list_lr_tests
from cnn_core.store.processes import process_start_time
from cnn_core.store.runs import list_runs
from cnn_core.training.distribute import STRATEGIES, check_strategy, is_chief
from cnn_core.training.loop import train_run
from cnn_core.training.lr_finder import range_test_config, run_range_test, unsupported_reason
from cnn_core.training.resources import check_training_memory

QUEUE_POLL_S = 1.0
LR_TEST_SLOT = "lr_test.lock"  # the one slot range tests share (module docstring)
DUPLICATE_WINDOW_S = 5.0  # an identical launch this soon after another is a double click
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

try:
    import fcntl
except ImportError:  # Windows: no slot locks, trainings are not limited
    fcntl = None  # type: ignore[assignment]


def max_concurrent() -> int:
    """How many trainings may run at once (`$CNN_MAX_TRAININGS`, default 1)."""
    return settings.max_trainings()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (blocking) for the block's duration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def launch_run(config: TrainConfig, root: Path | None = None) -> tuple[RunFolder, bool]:
    """Create a run for a validated config and start its worker process.

    Returns:
        (run folder, created): `created` is False when the same config was launched
        less than DUPLICATE_WINDOW_S ago (a double click): that run is returned.

    Raises:
        UserError: this workspace's queue is full.
    """
    root = root or runs_root()
    with _locked(root / ".launch.lock"):
        existing = list_runs(root)
        now = time.time()
        for run in existing:
            if run.config == config and now - run.created < DUPLICATE_WINDOW_S:
                return RunFolder(run.path), False
        queued = [r for r in existing if r.state == RunState.QUEUED]
        if len(queued) >= workspace.max_queued():
            raise UserError(
                f"{len(queued)} runs are already waiting for a training slot: "
                "stop one or wait for them to finish"
            )
        folder = create_run(config, root)
        start_worker(folder)
    return folder, True


def launch_lr_test(config: TrainConfig, root: Path | None = None) -> tuple[LrTestFolder, bool]:
    """Validate `config` and start a learning-rate range test of it.

    Returns:
        (test folder, created): `created` is False when this workspace already has
        a test queued or running: that one is returned (one at a time).

    Raises:
        ConfigError: the validator refuses the config (Train's messages).
        UserError: a model the finder does not test (VGG16), or an unknown dataset.
    """
    if why := unsupported_reason(config):
        raise UserError(why)
    _check_config(config)
    root = root or runs_root()
    with _locked(root / ".launch.lock"):
        active = [t for t in list_lr_tests(root) if t.active]
        if active:
            return LrTestFolder(active[0].path), False
        folder = create_lr_test(range_test_config(config), root)
        start_worker(folder, lr_test=True)
    return folder, True


def start_worker(folder: RunFolder, lr_test: bool = False) -> subprocess.Popen:
    """Start `python -m cnn_core.training.worker [--lr-test] <folder>` detached, logging to its
    worker log."""
    flags = ["--lr-test"] if lr_test else []
    log = open(folder.log_path, "ab")  # noqa: SIM115 - the child owns it from now on
    project_root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project_root), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_core.training.worker", *flags, str(folder.path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=project_root,
        env=env,
        start_new_session=True,
    )
    log.close()
    folder.write_status(RunState.QUEUED, pid=proc.pid, pid_start=process_start_time(proc.pid))
    return proc


def _try_slot(root: Path, names: list[str] | None = None) -> IO | None:
    """An open, exclusively locked slot file, or None when all slots are taken.

    Args:
        root: the store.
        names: the slot files to try; default the training slots.
    """
    if fcntl is None:
        return open(os.devnull)  # noqa: SIM115
    slots = root / ".slots"
    slots.mkdir(parents=True, exist_ok=True)
    for name in names or [f"slot{i}.lock" for i in range(max_concurrent())]:
        handle = open(slots / name, "a")  # noqa: SIM115 - held while training
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except OSError:
            handle.close()
    return None


def _first_in_queue(folder: RunFolder) -> bool:
    """No older run is still waiting (runs are served in launch order)."""
    created = folder.read_status().created or 0.0
    for run in list_runs(folder.path.parent):
        if run.state == RunState.QUEUED and run.run_id != folder.run_id and run.created < created:
            return False
    return True


def wait_for_slot(folder: RunFolder) -> IO | None:
    """Block in the `queued` state until a slot is free; None if Stop came first.

    A range test (`LrTestFolder`) waits for the one test slot, not a training slot.
    """
    lr_test = isinstance(folder, LrTestFolder)
    root = folder.runs_root if lr_test else folder.path.parent
    names = [LR_TEST_SLOT] if lr_test else None
    while True:
        if folder.stop_requested():
            return None
        if _first_in_queue(folder):
            slot = _try_slot(workspace.store_of(root), names)
            if slot is not None:
                return slot
        folder.write_status(RunState.QUEUED, heartbeat=time.time())
        time.sleep(QUEUE_POLL_S)


def disk_full_message(error: OSError) -> str:
    """What a user reads when the disk filled up while the run was writing."""
    where = f" while writing {Path(error.filename).name}" if error.filename else ""
    return (
        f"the disk is full{where} ({os.strerror(error.errno or errno.ENOSPC)}): the run "
        "ended here and its earlier epochs and files are kept. Free some space "
        "(delete old runs) and train again."
    )


def _record_failure(folder: RunFolder, message: str) -> None:
    """Mark the run failed; on a disk too full even for that, say so in the log."""
    try:
        folder.write_status(RunState.FAILED, ended=time.time(), message=message[:2000])
    except OSError as error:
        print(f"could not record the failure ({error}): {message}", file=sys.stderr)


def check_memory(folder: RunFolder) -> None:
    """Refuse (UserError) a run that would not fit in the memory left to this process."""
    config = folder.read_config()
    check_training_memory(config, dataset_info(config.dataset))


def run_worker(folder: RunFolder, strategy: str = "default") -> int:
    """Train the run in `folder` to the end, recording the outcome; the exit code.

    Args:
        folder: the run folder, with its config; an `LrTestFolder` runs its range
            test instead (`cnn_core.training.lr_finder.run_range_test`).
        strategy: a `cnn_core.training.distribute` strategy name (trainings only).
    """
    pid = os.getpid()
    folder.write_status(RunState.QUEUED, pid=pid, pid_start=process_start_time(pid))
    slot = wait_for_slot(folder)
    if slot is None:
        folder.write_status(RunState.STOPPED, ended=time.time(), message="stopped while queued")
        return 0
    with slot:
        folder.write_status(RunState.RUNNING, started=time.time(), heartbeat=time.time())
        try:
            check_memory(folder)  # before TensorFlow loads
            if isinstance(folder, LrTestFolder):
                run_range_test(folder)
            else:
                train_run(folder, strategy)
        except UserError as error:
            _record_failure(folder, str(error))
            print(f"run failed: {error}", file=sys.stderr)
            return 1
        except OSError as error:
            traceback.print_exc()
            if error.errno not in DISK_FULL:
                message = f"{type(error).__name__}: {error} (details in {folder.log_path.name})"
            else:
                message = disk_full_message(error)
            _record_failure(folder, message)
            return 1
        except Exception as error:  # noqa: BLE001 - recorded for the UI, traceback in the log
            traceback.print_exc()
            _record_failure(
                folder, f"{type(error).__name__}: {error} (details in {folder.log_path.name})"
            )
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m cnn_core.training.worker", description=__doc__)
    parser.add_argument("run_dir", nargs="?", help="an existing run folder to train")
    parser.add_argument("--config", help="a JSON TrainConfig to create a new run from")
    parser.add_argument("--runs-dir", help="the run store for --config (default: runs/)")
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="mirrored: every GPU of this machine; multiworker: the machines in TF_CONFIG",
    )
    parser.add_argument(
        "--lr-test",
        action="store_true",
        help="run_dir is a learning-rate range test's folder (cnn_core.training.lr_finder)",
    )
    args = parser.parse_args(argv)
    check_strategy(args.strategy)
    if args.lr_test:
        if not args.run_dir:
            parser.error("--lr-test needs the test's folder")
        return run_worker(LrTestFolder(Path(args.run_dir).resolve()))
    if args.config:
        config = read_config_file(Path(args.config))
        root = Path(args.runs_dir).resolve() if args.runs_dir else runs_root()
        if args.strategy == "multiworker" and not is_chief():
            # Every worker trains in step; only the chief's run folder is kept.
            root = Path(tempfile.mkdtemp(prefix="cnn-worker-"))
        _check_config(config)
        folder = create_run(config, root)
        print(f"run folder: {folder.path}", flush=True)
    elif args.run_dir:
        folder = RunFolder(Path(args.run_dir).resolve())
    else:
        parser.error("give a run folder or --config FILE")
    return run_worker(folder, args.strategy)


def read_config_file(path: Path) -> TrainConfig:
    """A TrainConfig from a JSON file: a run's `config.json`, or its `config` field alone.

    Raises:
        UserError: unreadable, not JSON, from a newer CNN Studio, or malformed.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the config file {path}: {error}") from error
    if not isinstance(record, dict):
        raise UserError(f"the config file {path} does not hold a JSON object")
    if isinstance(record.get("config"), dict):  # a whole config.json
        return TrainConfig.from_dict(record["config"], record_version(record, str(path)))
    record_version(record, str(path))  # refuses a newer one
    flat = isinstance(record.get("optimizer"), str) or any(key in record for key in FIT_FIELDS)
    return TrainConfig.from_dict(record, 1 if flat else SCHEMA_VERSION)


def _check_config(config: TrainConfig) -> None:
    """Refuse (ConfigError) a config the Train page's validator would refuse."""
    info = dataset_info(config.dataset)
    validate(config, info.image_shape, info.n_train)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
