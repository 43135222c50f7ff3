"""Safe writing of untrusted archives and uploaded folders into a fresh folder.

A zip (or a browser's folder upload) is read entry by entry; nothing the
archive declares about itself is trusted: every entry's bytes are counted as
they are decompressed, and writing stops at the caps on entry count, bytes per
entry, total bytes and compression ratio. Names with `..`, absolute paths,
drive letters or control characters, symlinks and encrypted entries refuse the
whole upload; nested archives and operating-system junk (`__MACOSX/`,
`.DS_Store`, `._*`, `Thumbs.db`) are skipped and reported. Everything goes into
a fresh folder created here, which is removed again when the upload is refused,
so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cnn_core.base.errors import UserError

CHUNK = 1 << 16  # bytes read at a time while decompressing
RATIO_FLOOR = 1 << 20  # ratios are only judged past 1 MiB (tiny files compress oddly)
NESTED_ARCHIVES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")
JUNK_NAMES = (".ds_store", "thumbs.db", "desktop.ini")
JUNK_FOLDERS = ("__macosx", ".git", ".svn")
_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_PART = 255  # characters per path part (common file-system limit)


@dataclass(frozen=True)
class Limits:
    """Caps on what one upload may write."""

    entries: int = 50_000  # files (and folders) listed in the archive or upload
    entry_bytes: int = 64 * 2**20  # bytes of one file once decompressed
    total_bytes: int = 4 * 2**30  # bytes of all files once decompressed
    ratio: float = 100.0  # decompressed / compressed, per entry and overall


@dataclass
class Unpacked:
    """What an upload wrote: the folder, the files kept and those skipped."""

    root: Path
    files: int = 0
    total_bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


def safe_parts(name: str) -> tuple[str, ...]:
    """The path parts of an archive or upload entry name, NFC-normalised.

    Backslashes count as separators (Windows zips); empty and "." parts are dropped.

    Raises:
        UserError: an absolute path, a drive letter, a ".." part, control
            characters or an over-long part (the whole upload is refused).
    """
    text = str(name).replace("\\", "/")
    shown = _shown(text)
    if text.startswith("/") or _DRIVE.match(text):
        raise UserError(f"refused: the entry {shown} has an absolute path")
    parts = tuple(unicodedata.normalize("NFC", p) for p in text.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UserError(f"refused: the entry {shown} points outside its folder ('..')")
    if any(not ch.isprintable() for ch in text):
        raise UserError(f"refused: the entry {shown} has control characters in its name")
    if any(len(p) > MAX_PART for p in parts):
        raise UserError(f"refused: the entry {shown} has a name part over {MAX_PART} characters")
    return parts


def skip_reason(parts: tuple[str, ...]) -> str | None:
    """Why an entry is skipped rather than written (junk, nested archive), or None."""
    if any(p.lower() in JUNK_FOLDERS for p in parts[:-1]) or parts[0].lower() in JUNK_FOLDERS:
        return "operating-system junk (__MACOSX and the like)"
    last = parts[-1].lower()
    if last in JUNK_NAMES or last.startswith("._"):
        return "operating-system junk (.DS_Store and the like)"
    if last.endswith(NESTED_ARCHIVES):
        return "an archive inside the upload: not opened"
    return None


@contextmanager
def fresh_folder(parent: Path, prefix: str = ".incoming-") -> Iterator[Path]:
    """A new empty folder under `parent`, removed again if the block raises."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def extract_zip(source: BinaryIO | Path, dest: Path, limits: Limits = Limits()) -> Unpacked:
    """Write the files of an untrusted zip into the empty folder `dest`.

    Args:
        source: the zip, as a seekable binary file (e.g. Streamlit's UploadedFile) or a path.
        dest: an empty folder made for this upload (see `fresh_folder`); the caller
            removes it when this raises.
        limits: the caps.

    Returns:
        What was written and what was skipped.

    Raises:
        UserError: not a zip, a hostile entry, or a cap exceeded.
    """
    handle = open(source, "rb") if isinstance(source, Path) else source  # noqa: SIM115
    try:
        handle.seek(0, os.SEEK_END)
        archive_size = max(1, handle.tell())
        handle.seek(0)
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise UserError(f"not a readable zip file ({error})") from error
        with archive:
            return _extract_entries(archive, archive_size, dest, limits)
    finally:
        if isinstance(source, Path):
            handle.close()


def _extract_entries(
    archive: zipfile.ZipFile, archive_size: int, dest: Path, limits: Limits
) -> Unpacked:
    """`extract_zip`'s loop over the entries: each checked, then written within the caps."""
    infos = archive.infolist()
    if len(infos) > limits.entries:
        raise UserError(
            f"refused: the zip lists {len(infos):,} entries (at most {limits.entries:,})"
        )
    out = Unpacked(dest)
    seen: set[tuple[str, ...]] = set()
    for info in infos:
        parts = safe_parts(info.filename)
        if _is_symlink(info):
            raise UserError(f"refused: the entry {_shown(info.filename)} is a symbolic link")
        if info.flag_bits & 0x1:
            raise UserError(f"refused: the entry {_shown(info.filename)} is encrypted")
        if not parts or info.is_dir() or not _keep(parts, seen, out):
            continue
        try:
            with archive.open(info) as stream:
                _write(stream, dest, parts, limits, out, info.compress_size)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
            raise UserError(
                f"refused: the entry {_shown(info.filename)} is corrupt ({error})"
            ) from error
        if out.total_bytes > limits.ratio * archive_size and out.total_bytes > RATIO_FLOOR:
            raise UserError(
                f"refused: the zip expands over {limits.ratio:g} times its size (possible zip bomb)"
            )
        out.files += 1
    return out


def write_files(
    files: Iterable[tuple[str, BinaryIO]], dest: Path, limits: Limits = Limits()
) -> Unpacked:
    """Write uploaded files, named by their relative paths, into the empty folder `dest`.

    Args:
        files: (relative name, readable binary stream) pairs, e.g. from a
            folder upload: ("photos/train/cat/1.jpg", uploaded_file).
        dest: an empty folder made for this upload; the caller removes it when this raises.
        limits: the caps (the ratio cap does not apply: nothing is compressed).

    Raises:
        UserError: a hostile name or a cap exceeded.
    """
    out = Unpacked(dest)
    seen: set[tuple[str, ...]] = set()
    for count, (name, stream) in enumerate(files, start=1):
        if count > limits.entries:
            raise UserError(f"refused: more than {limits.entries:,} files in the upload")
        parts = safe_parts(name)
        if not parts or not _keep(parts, seen, out):
            continue
        _write(stream, dest, parts, limits, out, compressed=None)
        out.files += 1
    return out


def _keep(parts: tuple[str, ...], seen: set[tuple[str, ...]], out: Unpacked) -> bool:
    """Whether to write an entry; records why not in `out.skipped`."""
    name = "/".join(parts)
    reason = skip_reason(parts)
    key = tuple(p.casefold() for p in parts)
    if reason is None and key in seen:
        reason = "a second entry with the same name"
    if reason is not None:
        out.skipped.append((name, reason))
        return False
    seen.add(key)
    return True


def _write(
    stream: BinaryIO,
    dest: Path,
    parts: tuple[str, ...],
    limits: Limits,
    out: Unpacked,
    compressed: int | None,
) -> None:
    """Copy one entry chunk by chunk, counting real bytes against the caps."""
    target = dest.joinpath(*parts)
    shown = _shown("/".join(parts))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sink = open(target, "xb")  # noqa: SIM115 - "x": never reuses or follows a name
    except OSError as error:
        raise UserError(
            f"refused: the entry {shown} cannot be written ({error.strerror})"
        ) from error
    written = 0
    with sink:
        while chunk := stream.read(CHUNK):
            written += len(chunk)
            out.total_bytes += len(chunk)
            if written > limits.entry_bytes:
                raise UserError(
                    f"refused: {shown} is over {limits.entry_bytes // 2**20} MiB "
                    "once unpacked (possible zip bomb)"
                )
            if out.total_bytes > limits.total_bytes:
                raise UserError(
                    f"refused: the upload is over {limits.total_bytes // 2**20} MiB once unpacked"
                )
            if (
                compressed is not None
                and written > RATIO_FLOOR
                and written > limits.ratio * max(1, compressed)
            ):
                raise UserError(
                    f"refused: {shown} expands over {limits.ratio:g} times (possible zip bomb)"
                )
            sink.write(chunk)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _shown(name: str, limit: int = 80) -> str:
    """An entry name quoted for a message: escaped (repr) and shortened."""
    text = repr(str(name))
    return text if len(text) <= limit else text[: limit - 4] + "...'"
