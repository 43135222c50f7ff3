"""Safe unpacking of untrusted zips and uploaded folders (cnn_core/data/archives.py)."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from cnn_core.base.errors import UserError
from cnn_core.data.archives import Limits, extract_zip, fresh_folder, safe_parts, write_files
from tests.image_folder_support import zip_bytes


def unpack(tmp_path: Path, data: bytes, limits: Limits | None = None) -> Path:
    """Unpack into a fresh folder under tmp_path/up; the folder is removed on refusal."""
    with fresh_folder(tmp_path / "up") as dest:
        extract_zip(io.BytesIO(data), dest, limits or Limits())
        return dest


def left_behind(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "up").iterdir())


def test_a_plain_zip_is_written_and_junk_and_nested_archives_are_skipped(tmp_path: Path) -> None:
    data = zip_bytes(
        [
            ("set/train/cat/a.jpg", b"cat"),
            ("set/train/dog/b.jpg", b"dog"),
            ("__MACOSX/set/train/cat/._a.jpg", b"junk"),
            ("set/train/cat/.DS_Store", b"junk"),
            ("set/train/dog/more.zip", b"PK.."),
        ]
    )
    with fresh_folder(tmp_path / "up") as dest:
        out = extract_zip(io.BytesIO(data), dest)
    assert (dest / "set/train/cat/a.jpg").read_bytes() == b"cat"
    assert out.files == 2 and out.total_bytes == 6
    reasons = dict(out.skipped)
    assert "junk" in reasons["__MACOSX/set/train/cat/._a.jpg"]
    assert "junk" in reasons["set/train/cat/.DS_Store"]
    assert "archive inside" in reasons["set/train/dog/more.zip"]
    assert not (dest / "__MACOSX").exists() and not (dest / "set/train/dog/more.zip").exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil.txt", "outside"),
        ("set/../../evil.txt", "outside"),
        ("/etc/evil.txt", "absolute"),
        ("C:/evil.txt", "absolute"),
        ("..\\evil.txt", "outside"),
        ("set/bad\x07name.jpg", "control"),
    ],
)
def test_hostile_names_refuse_the_whole_zip_and_leave_nothing(
    tmp_path: Path, name: str, words: str
) -> None:
    data = zip_bytes([("set/train/cat/a.jpg", b"ok"), (name, b"evil")])
    with pytest.raises(UserError, match=words):
        unpack(tmp_path, data)
    assert left_behind(tmp_path) == []
    assert not (tmp_path / "evil.txt").exists()


def test_a_symlink_entry_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("set/train/cat/link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UserError, match="symbolic link"):
        unpack(tmp_path, buffer.getvalue())
    assert left_behind(tmp_path) == []


def test_a_zip_bomb_is_stopped_by_the_ratio_cap_without_writing_it_all(tmp_path: Path) -> None:
    data = zip_bytes([("bomb.bin", b"\0" * (64 * 2**20))])  # 64 MiB of zeros, ~64 KB zipped
    assert len(data) < 2**20
    with pytest.raises(UserError, match="zip bomb"):
        unpack(tmp_path, data)
    assert left_behind(tmp_path) == []


def lie_about_size(data: bytes, size: int) -> bytes:
    """The zip with its first entry's uncompressed size set to `size` in both headers."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(signature)
        out[at + offset : at + offset + 4] = size.to_bytes(4, "little")
    return bytes(out)


def test_the_entry_cap_counts_real_bytes_not_the_declared_size(tmp_path: Path) -> None:
    real = bytes(range(256)) * 1024  # 256 KiB
    huge_claim = lie_about_size(zip_bytes([("a.bin", real)]), 2**31)
    with pytest.raises(UserError, match="over 0 MiB"):
        unpack(tmp_path, huge_claim, Limits(entry_bytes=100_000))
    small_claim = lie_about_size(zip_bytes([("a.bin", real)]), 10)
    with pytest.raises(UserError, match="corrupt"):
        unpack(tmp_path, small_claim)
    assert left_behind(tmp_path) == []


def test_total_bytes_and_entry_count_caps(tmp_path: Path) -> None:
    entries = [(f"f{i}.bin", bytes([i]) * 1000) for i in range(5)]
    with pytest.raises(UserError, match="MiB once unpacked"):
        unpack(tmp_path, zip_bytes(entries), Limits(total_bytes=3000, ratio=10**6))
    with pytest.raises(UserError, match="entries"):
        unpack(tmp_path, zip_bytes(entries), Limits(entries=4))
    assert left_behind(tmp_path) == []


def test_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a readable zip"):
        unpack(tmp_path, b"this is text, not a zip")
    assert left_behind(tmp_path) == []


def test_uploaded_folder_files_are_checked_like_zip_entries(tmp_path: Path) -> None:
    files = [("pics/cat/a.png", io.BytesIO(b"a")), ("pics/.DS_Store", io.BytesIO(b"x"))]
    with fresh_folder(tmp_path / "up") as dest:
        out = write_files(files, dest)
    assert (dest / "pics/cat/a.png").read_bytes() == b"a"
    assert out.files == 1 and out.skipped[0][0] == "pics/.DS_Store"
    with pytest.raises(UserError, match="outside"), fresh_folder(tmp_path / "up2") as dest:
        write_files([("pics/a.png", io.BytesIO(b"a")), ("../x.png", io.BytesIO(b"x"))], dest)
    assert list((tmp_path / "up2").iterdir()) == []
    with pytest.raises(UserError, match="over 0 MiB"), fresh_folder(tmp_path / "up3") as dest:
        write_files([("pics/a.png", io.BytesIO(b"a" * 100))], dest, Limits(entry_bytes=10))


def test_safe_parts_normalises_and_drops_dots() -> None:
    assert safe_parts("./a//b\\c.jpg") == ("a", "b", "c.jpg")
    assert safe_parts("cafe\u0301/x.jpg") == ("caf\u00e9", "x.jpg")
