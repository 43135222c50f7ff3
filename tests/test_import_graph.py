"""The import graph of cnn_core: stages depend one way, no circles, imports at the top.

In the spirit of import-linter's layers contract, written out here so that it needs no
tool: a module may import its own package and the packages of lower layers, never a
higher one, and never a sibling of the same layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

CORE = REPO / "cnn_core"

# Lowest first; packages in one tuple are siblings that must not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("base",),
    ("schema",),
    ("data",),
    ("models",),
    ("store",),
    ("training",),
    ("insight", "sharing"),
    ("charts",),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# What a function may import for itself: TensorFlow and Keras, so that importing
# cnn_core (and rendering the Home page) never loads them.
LAZY_ROOTS = {"tensorflow", "keras"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported cnn_core module or other root, line, inside a function) per import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    known = _modules()
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:  # `from cnn_core.store import runs` names a module
                    full = f"{child.module}.{alias.name}"
                    target = full if full in known else child.module
                    found.append((target, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m, _, _ in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_of_cnn_core_has_a_layer() -> None:
    packages = {p.name for p in CORE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(RANK), f"give each package a layer: {packages ^ set(RANK)}"
    loose = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"every module belongs to a stage package: {loose}"


def test_imports_flow_down_the_layers() -> None:
    offenders = []
    for module, imported in _graph().items():
        own = _package(module)
        for target in imported:
            other = _package(target)
            if own is None or other is None or other == own:
                continue
            if RANK[other] >= RANK[own]:
                offenders.append(f"{module} -> {target}")
    assert offenders == [], "imports must go to lower layers only:\n" + "\n".join(sorted(offenders))


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_circles_between_modules() -> None:
    cycle = _cycle(_graph())
    assert cycle == [], "import circle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_function_level_imports_only_keep_tensorflow_lazy_and_say_so() -> None:
    offenders = []
    for module, path in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for name, line, in_function in _imports(path):
            if not in_function:
                continue
            commented = "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")
            if name.split(".")[0] not in LAZY_ROOTS or not commented:
                offenders.append(f"{module}:{line} {name}")
    assert offenders == [], (
        "import at the top of the file; inside a function only TensorFlow or Keras, "
        "with a comment:\n" + "\n".join(offenders)
    )
