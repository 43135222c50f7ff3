"""The Streamlit behaviour `ensure_app_navigation` patches, and where helpers may live.

`pages._shared.common.ensure_app_navigation` works around Streamlit's legacy
multipage mode: with a folder named `pages/` beside the main script, a deep link
on a freshly started server runs the page script alone, without app.py. These
tests pin that behaviour on small throw-away apps, so a Streamlit upgrade that
changes it fails here with a message saying what to revisit.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

# Imported first so the throw-away apps' own pages/ folders cannot shadow the package.
import pages._shared.common  # noqa: F401
from pages._shared.page_registry import PAGES
from tests.conftest import REPO

UPGRADE = (
    "Streamlit changed the legacy pages/ mode that ensure_app_navigation "
    "(pages/_shared/common.py) works around: "
)
MAIN = """
import streamlit as st
st.write("main ran")
st.navigation([st.Page("pages/home.py", default=True), st.Page("pages/deep.py")]).run()
"""
HOME = 'import streamlit as st\nst.write("home ran")\n'
DEEP = 'import streamlit as st\nst.write("deep ran")\n'
GUARDED_DEEP = (
    DEEP + "from pages._shared.common import ensure_app_navigation\nensure_app_navigation()\n"
)
HELPER = 'import streamlit as st\nst.write("helper ran")\n'


@pytest.fixture(autouse=True)
def legacy_flag() -> Iterator[None]:
    """Puts PagesManager's process-wide flag back as it was."""
    saved = PagesManager.__dict__.get("uses_pages_directory")
    yield
    PagesManager.uses_pages_directory = saved


def _app(folder: Path, deep: str = DEEP) -> Path:
    """A main script that navigates like app.py, its pages, and a helper under pages/_shared."""
    (folder / "pages" / "_shared").mkdir(parents=True)
    (folder / "pages" / "home.py").write_text(HOME)
    (folder / "pages" / "deep.py").write_text(deep)
    (folder / "pages" / "_shared" / "helper.py").write_text(HELPER)
    main = folder / "main.py"
    main.write_text(MAIN)
    return main


def _first_run(main: Path, page: str) -> list[str]:
    """What a fresh session that opens `page` (a deep link) writes on its first run."""
    at = AppTest.from_file(str(main), default_timeout=30)
    at.switch_page(page)  # before the first run: the page is known by its file name, as a URL
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return [m.value for m in at.markdown]


def test_pages_manager_still_has_the_class_flag() -> None:
    assert "uses_pages_directory" in PagesManager.__dict__, (
        UPGRADE + "PagesManager has no class attribute uses_pages_directory any more."
    )


def test_a_pages_folder_beside_the_main_script_turns_the_legacy_mode_on(tmp_path: Path) -> None:
    PagesManager.uses_pages_directory = None  # as on a freshly started server
    PagesManager(str(REPO / "app.py"))
    assert PagesManager.uses_pages_directory is True, (
        UPGRADE + "a main script beside pages/ no longer sets uses_pages_directory to True."
    )
    PagesManager.uses_pages_directory = None
    PagesManager(str(tmp_path / "main.py"))  # no pages/ folder there
    assert PagesManager.uses_pages_directory is False


def test_a_deep_link_on_a_fresh_server_still_skips_the_main_script(tmp_path: Path) -> None:
    written = _first_run(_app(tmp_path), "pages/deep.py")
    assert "deep ran" in written
    assert "main ran" not in written, (
        UPGRADE + "a deep link now runs the main script first. ensure_app_navigation "
        "may no longer be needed: check a deep link such as /train on a fresh server."
    )


def test_ensure_app_navigation_sends_the_deep_link_through_the_main_script(
    tmp_path: Path,
) -> None:
    written = _first_run(_app(tmp_path, GUARDED_DEEP), "pages/deep.py")
    assert written == ["main ran", "deep ran"], written


def test_helpers_under_pages_can_never_be_opened_as_pages(tmp_path: Path) -> None:
    written = _first_run(_app(tmp_path), "pages/_shared/helper.py")
    assert "helper ran" not in written, (
        UPGRADE + "it now lists scripts in sub-folders of pages/, so page helpers "
        "(pages/_shared/) could be opened as pages."
    )
    assert written == ["main ran", "home ran"]  # an unknown page falls back to the default


def test_every_script_directly_in_pages_is_a_page_of_the_app() -> None:
    tree = ast.parse((REPO / "app.py").read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "pages._shared.page_registry"
        for alias in node.names
    }
    assert "sections" in imported, "app.py's navigation is built from the page registry"
    registered = {entry.path for entry in PAGES}
    scripts = {
        f"pages/{path.name}" for path in (REPO / "pages").glob("*.py") if path.name != "__init__.py"
    }
    assert scripts == registered, (
        "Streamlit's legacy mode offers every pages/*.py as a page: put helpers in "
        f"pages/_shared/. Not in app.py's navigation: {sorted(scripts - registered)}"
    )


def test_pages_name_other_pages_only_through_the_registry() -> None:
    """A page path written in a page or helper goes through `page_registry.page(...)`, which
    fails on an unregistered path, and titles and icons come from its entry, never restated."""
    restated = []
    for path in sorted((REPO / "pages").rglob("*.py")):
        if path.name == "page_registry.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        through_registry = {
            id(node.args[0])
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "page" and node.args
        }
        restated += [
            f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in {entry.path for entry in PAGES} | {entry.icon for entry in PAGES}
            and id(node) not in through_registry
        ]
    assert not restated, f"use pages._shared.page_registry.page(path): {restated}"
