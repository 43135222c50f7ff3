"""The README's layout block names every package and module of cnn_core and pages/_shared,
and nothing that is not there (so it matches the tree)."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _layout_block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1]
    return section.split("```", 2)[1]


def _named_modules(block: str) -> set[str]:
    """Every `name.py` or `name/` the block mentions (as a word of its own)."""
    return set(re.findall(r"(?<![\w./])([a-z_0-9]+(?:\.py|/))", block))


def _tree_modules() -> set[str]:
    found = set()
    for folder in (REPO / "cnn_core", REPO / "pages" / "_shared"):
        for path in folder.rglob("*.py"):
            if path.name != "__init__.py":
                found.add(path.name)
        for path in folder.rglob("*"):
            if path.is_dir() and (path / "__init__.py").exists():
                found.add(f"{path.name}/")
    return found


def test_the_layout_names_every_module() -> None:
    missing = sorted(_tree_modules() - _named_modules(_layout_block()))
    assert missing == [], f"add these to README.md's Layout block: {missing}"


def test_the_layout_names_no_module_that_is_gone() -> None:
    everything = {p.name for p in REPO.rglob("*.py") if ".venv" not in p.parts}
    everything |= {f"{p.name}/" for p in REPO.rglob("*") if p.is_dir() and ".venv" not in p.parts}
    gone = sorted(_named_modules(_layout_block()) - everything)
    assert gone == [], f"README.md's Layout block names what is not in the tree: {gone}"
