"""Ground rules of the code base: layering and start-up cost."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.apptest_support import open_in_fresh_process
from tests.conftest import REPO


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_cnn_core_never_imports_streamlit() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in sorted((REPO / "cnn_core").rglob("*.py"))
        if "streamlit" in _imported_modules(p)
    ]
    assert offenders == [], f"cnn_core must not import streamlit: {offenders}"


def test_cnn_core_modules_import_without_tensorflow() -> None:
    modules = [p.stem for p in (REPO / "cnn_core").glob("*.py") if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('cnn_core.' + name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"importing cnn_core loaded: {out.stdout}"


def test_home_page_renders_without_tensorflow() -> None:
    result = open_in_fresh_process()
    assert result["exceptions"] == [], result
    assert "CNN Studio" in result["titles"][0]
    assert result["tf"] == [], f"the Home page loaded {result['tf']}"
