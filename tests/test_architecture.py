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
    modules = [  # every module, sub-packages too: cnn_core.charts.style
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in sorted((REPO / "cnn_core").rglob("*.py"))
        if p.stem != "__init__"
    ]
    assert "cnn_core.charts.concepts" in modules and "cnn_core.insight.concepts" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
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


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((REPO / folder).rglob("*.py"))]


def _from_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import in `path`; plain imports list no names."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


LAUNCHING = {"launch_run", "launch_lr_test", "max_concurrent"}  # what pages may use of the worker


def test_pages_never_import_the_training_loop_or_worker_internals() -> None:
    offenders = []
    for path in _python_files("pages"):
        for module, names in _from_imports(path):
            if module == "cnn_core.training.loop" or (
                module == "cnn_core.training" and "loop" in names
            ):
                offenders.append(f"{path.relative_to(REPO)}: {module}")
            if module == "cnn_core.training.worker" and not set(names) <= LAUNCHING:
                offenders.append(f"{path.relative_to(REPO)}: {module} {sorted(names)}")
            if module == "cnn_core.training" and "worker" in names:
                offenders.append(f"{path.relative_to(REPO)}: cnn_core.training.worker")
    assert offenders == [], f"pages may only launch runs, not train them: {offenders}"


RUN_FILES = (
    "config.json",
    "status.json",
    "metrics.jsonl",
    "progress.json",
    "model.keras",
    "evaluation.json",
    "predictions.npz",
    "worker.log",
    "lr_test.json",
    "tensorboard",
)


def _string_constants(path: Path) -> list[ast.Constant]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_only_the_run_store_names_the_files_of_a_run_folder() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}"
        for path in _python_files("cnn_core", "pages", "scripts", "benchmarks")
        if path != REPO / "cnn_core" / "store" / "folder.py"
        for node in _string_constants(path)
        if node.value.strip("/") in RUN_FILES or node.value.endswith(RUN_FILES[:-1])
    ]
    assert offenders == [], f"name run files through cnn_core.store.folder.RunFolder: {offenders}"


def _scales_by_255(node: ast.AST) -> bool:
    """`x * 255`, `x / 255.0`, `x *= 255` and the like."""
    if isinstance(node, ast.BinOp):
        operands = (node.left, node.right)
    elif isinstance(node, ast.AugAssign):
        operands = (node.value,)
    else:
        return False
    return isinstance(node.op, ast.Mult | ast.Div) and any(
        isinstance(o, ast.Constant) and o.value in (255, 255.0) for o in operands
    )


def test_no_page_rescales_pixels() -> None:
    """Models take raw [0, 255] pixels and rescale themselves; pages never scale by 255."""
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in _python_files("pages")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if _scales_by_255(node)
    ]
    assert offenders == [], f"pages must not multiply or divide by 255: {offenders}"


KERAS_INTERNALS = {"get_layer", "layers", "kernel", "bias", "outputs", "count_params"}


def test_no_page_reaches_into_a_keras_model() -> None:
    """Layers, kernels and output shapes are read by cnn_core.insight.inspection
    (`class_count`, `filter_input_channels`...); a page only passes the model on."""
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}"
        for path in _python_files("pages")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in KERAS_INTERNALS
    ]
    assert offenders == [], f"ask cnn_core.insight.inspection instead: {offenders}"


def test_scripts_and_benchmarks_never_import_the_tests() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {module}"
        for path in _python_files("scripts", "benchmarks")
        for module, _ in _from_imports(path)
        if module.split(".")[0] == "tests"
    ]
    assert offenders == [], f"tests import tools, never the other way round: {offenders}"


def test_no_module_shadows_the_standard_library() -> None:
    clashes = [
        str(p.relative_to(REPO))
        for p in _python_files("cnn_core", "pages")
        if p.stem in sys.stdlib_module_names
    ]
    assert clashes == [], f"these module names hide standard-library modules: {clashes}"


# Registries a dataset key could be looked up in directly; cnn_core.data.registry's registry
# functions (dataset_info, find_dataset, dataset_title, all_datasets) are the one lookup.
DATASET_TABLES = {"DATASETS", "BUILTIN", "_BUILTIN", "user_dataset_info", "list_user_datasets"}


def test_every_dataset_key_goes_through_the_one_registry_lookup() -> None:
    offenders = []
    registry = {
        REPO / "cnn_core" / "data" / "registry.py",
        REPO / "cnn_core" / "data" / "builtin.py",
        *(REPO / "cnn_core" / "data" / "user").glob("*.py"),
    }
    for path in _python_files("cnn_core", "pages", "scripts", "benchmarks"):
        if path in registry:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if isinstance(node, ast.alias):
                name = node.name
            if name in DATASET_TABLES:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    assert offenders == [], (
        f"look datasets up through cnn_core.data.registry.dataset_info: {offenders}"
    )


# RunFolder's writes: pages change a run only through cnn_core.store.access, which
# checks the workspace first (the worker writes its own run's files directly).
RUN_WRITES = {
    "write_config",
    "write_status",
    "write_notes",
    "write_progress",
    "append_epoch",
    "clear_progress",
    "request_stop",
    "save_model",
    "save_evaluation",
    "rename",
}


def _direct_run_writes(source: str) -> list[tuple[int, str]]:
    """(line, method) of each RunFolder write not called through `access.`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or node.attr not in RUN_WRITES:
            continue
        if not (isinstance(node.value, ast.Name) and node.value.id == "access"):
            found.append((node.lineno, node.attr))
    return found


def test_pages_change_runs_only_through_the_workspace_gate() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line} .{name}"
        for path in _python_files("pages")
        for line, name in _direct_run_writes(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"change runs through cnn_core.store.access: {offenders}"


def test_the_gate_check_sees_a_direct_write() -> None:
    source = "run.request_stop()\naccess.request_stop(run)\nst.button(on_click=run.rename)"
    assert _direct_run_writes(source) == [(1, "request_stop"), (3, "rename")]


def test_every_browser_test_module_is_marked_so_test_fast_leaves_it_out() -> None:
    """`make test-fast` deselects the `browser` marker: a module that drives Chromium
    (imports Playwright) is named test_browser*.py and marks all its tests."""
    unmarked = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        source = path.read_text(encoding="utf-8")
        drives_a_browser = any(
            module.split(".")[0] == "playwright" for module, _ in _from_imports(path)
        )
        if drives_a_browser or path.name.startswith("test_browser"):
            named = path.name.startswith("test_browser")
            if not named or "pytestmark = pytest.mark.browser" not in source:
                unmarked.append(path.name)
    assert unmarked == [], f"name them test_browser*.py with pytestmark: {unmarked}"
