"""Every CNN_* setting is read in cnn_core/base/settings.py, and read forgivingly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnn_core.base import settings
from tests.conftest import REPO

NAMES = sorted(
    value
    for name, value in vars(settings).items()
    if name.isupper() and isinstance(value, str) and value.startswith("CNN_")
)


def test_only_the_settings_module_reads_cnn_variables() -> None:
    offenders = []
    for path in sorted((REPO / "cnn_core").rglob("*.py")):
        if path.name == "settings.py":
            continue
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "environ" in line and "CNN_" in line:
                offenders.append(f"{path.relative_to(REPO)}:{line_no}")
    assert offenders == [], f"read CNN_* variables through cnn_core.base.settings: {offenders}"


def test_the_readme_lists_every_setting() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(CNN_[A-Z_]+)` \|", readme, flags=re.M))
    assert table == set(NAMES)


@pytest.mark.parametrize(
    ("value", "expected"), [("", 8), ("3", 3), ("0", 1), ("-4", 1), ("many", 8)]
)
def test_a_malformed_or_absurd_number_falls_back(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int
) -> None:
    monkeypatch.setenv(settings.WORKSPACE_MAX_QUEUED, value)
    assert settings.max_queued() == expected


@pytest.mark.parametrize(("value", "on"), [("1", True), (" Yes ", True), ("0", False), ("", False)])
def test_flags(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv(settings.PRIVATE_WORKSPACES, value)
    assert settings.private_workspaces() is on


def test_paths_resolve_and_empty_means_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(settings.RUNS_DIR, str(tmp_path / "store"))
    assert settings.runs_dir() == (tmp_path / "store").resolve()
    monkeypatch.setenv(settings.DATA_DIR, "  ")
    assert settings.data_dir() is None
    monkeypatch.setenv(settings.FEATURE_CACHE_GB, "-2")
    assert settings.feature_cache_gb(4.0) == 0.0
