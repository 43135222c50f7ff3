"""Learning-rate range tests' folders: `.lr_tests/<id>/` beside a workspace's runs.

A range test (`cnn_core.training.lr_finder`) has a run folder's config, status,
progress, stop and worker log files, plus its result (`lr_test.json`). A dot name
is never a run id, so run lists skip the folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cnn_core.schema.config import TrainConfig
from cnn_core.store.folder import LrTestFolder, create_run, run_folder, runs_root
from cnn_core.store.runs import RunSummary, list_runs

LR_TESTS_DIR = ".lr_tests"
KEEP_LR_TESTS = 5  # finished range tests kept per workspace; older ones are deleted


def lr_tests_root(root: Path | None = None) -> Path:
    """Where the range tests of a runs folder (default: the current workspace's) live."""
    return (root or runs_root()) / LR_TESTS_DIR


def lr_test_folder(test_id: str, root: Path | None = None) -> LrTestFolder:
    """The folder of range test `test_id`; UserError for ids that could escape the store."""
    return LrTestFolder(run_folder(test_id, lr_tests_root(root)).path)


def list_lr_tests(root: Path | None = None) -> list[RunSummary]:
    """Every range test of a runs folder, newest first (their summaries, as for runs)."""
    return list_runs(lr_tests_root(root))


def create_lr_test(config: TrainConfig, root: Path | None = None) -> LrTestFolder:
    """Make a range-test folder with its config and a `queued` status; delete the
    finished tests beyond the newest KEEP_LR_TESTS."""
    tests = lr_tests_root(root)
    for old in [t for t in list_runs(tests) if not t.active][KEEP_LR_TESTS - 1 :]:
        shutil.rmtree(old.path, ignore_errors=True)
    folder = create_run(config, tests)
    return LrTestFolder(folder.path)
