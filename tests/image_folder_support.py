"""Helpers for the "My images" tests: a data directory of their own and small zips."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from scripts.shape_images import write_shapes


def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point CNN_DATA_DIR at an empty folder of this test (imports land in it)."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CNN_DATA_DIR", str(data))
    return data


def shapes_folder(parent: Path, per_class: int = 12, size: int = 24, seed: int = 0) -> Path:
    """`parent/shapes/train/{circle,square,triangle}/` of PNG and JPEG files."""
    return write_shapes(parent / "shapes", per_class, size, seed)


def folder_entries(root: Path) -> list[tuple[str, bytes]]:
    """(relative name, bytes) of every file under `root`, names prefixed by its folder name."""
    return [
        (f"{root.name}/{p.relative_to(root).as_posix()}", p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]


def zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    """A deflated zip of (name, bytes) entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()
