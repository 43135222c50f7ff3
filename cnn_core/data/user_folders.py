"""The user's own images: class folders checked once, kept on disk, streamed to training.

A dataset comes from a folder laid out like Keras' ``image_dataset_from_directory``
expects: ``train/<class>/*.jpg`` (or the class folders at the top), optionally
``test/<class>/...`` for a labelled test set or a flat ``test/`` of unlabeled
images. Importing checks every file with the upload rules of
``cnn_core.data.images.decode_image`` (format allowlist, pixel limit, forced decode,
EXIF, every mode converted), skips and reports junk, non-images, corrupt files
and duplicates, and writes each accepted image, resized to the chosen square
side, as raw uint8 rows to a pixel file beside a ``dataset.json`` manifest in
``<data dir>/my_images/<slug>/``. Nothing but one chunk of images is ever held
in memory: pages read rows through `PixelStore`, training streams batches from
it through ``tf.data`` (`stream`).

Datasets are keyed ``my-<slug>`` and appear in `cnn_core.data.registry.all_datasets`
beside the built-in ones. No TensorFlow at import time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import IMAGE_BYTES, IMAGE_MB
from cnn_core.data import archives
from cnn_core.data.images import decode_image, to_model_input
from cnn_core.data.registry import (
    Dataset,
    DatasetInfo,
    class_counts,
    keras_cache_dir,
    split_indices,
    stratified_order,
)
from cnn_core.schema.config import validation_size
from cnn_core.store import workspaces

KEY_PREFIX = "my-"
ROOT_NAME = "my_images"  # folder under the data directory
MANIFEST = "dataset.json"
MANIFEST_FORMAT = 1
SIDES = (32, 48, 64, 96, 128, 160, 224)  # px; 28 is left out: it means "MNIST digit" elsewhere
FITS = ("stretch", "pad")  # resize to a square, or keep the aspect and pad with black
COLOURS = ("rgb", "grey")
VALIDATION_RANGE = (0.05, 0.5)
MIN_PER_CLASS = 5  # images a class needs at least, whatever the split
MAX_FILES = 200_000  # files looked at in one import
MAX_FILE_BYTES = IMAGE_BYTES  # a single image file larger than this is skipped
CHECK_CHUNK = 256  # images decoded (in threads) before their pixels are written
LABEL_DISPLAY = 32  # characters of a class name shown in charts and captions
HOLDOUT_SEED = 0  # the fixed seed of the test split of a dataset without a test folder
SPLITS = ("train", "test", "unlabeled")
Progress = Callable[[str, int, int], None]  # (split, files done, files in the split)


@dataclass(frozen=True)
class ImageOptions:
    """How imported images are stored: square side, fit, colour, validation share."""

    side: int = 128  # px, one of SIDES
    fit: str = "stretch"  # one of FITS
    colour: str = "rgb"  # one of COLOURS
    validation: float = 0.16  # default validation share of runs; also the test
    # share held out when the dataset has no labelled test folder

    @property
    def shape(self) -> tuple[int, int, int]:
        """(h, w, c) of the stored images."""
        return (self.side, self.side, 3 if self.colour == "rgb" else 1)

    def check(self) -> None:
        """Raises UserError naming the bad setting and its allowed values."""
        if self.side not in SIDES:
            raise UserError(f"image size must be one of {SIDES}. Received: {self.side!r}")
        if self.fit not in FITS:
            raise UserError(f"fit must be one of {', '.join(FITS)}. Received: {self.fit!r}")
        if self.colour not in COLOURS:
            raise UserError(
                f"colour must be one of {', '.join(COLOURS)}. Received: {self.colour!r}"
            )
        low, high = VALIDATION_RANGE
        if not isinstance(self.validation, float | int) or not low <= self.validation <= high:
            raise UserError(
                f"validation share must be between {low:g} and {high:g}. "
                f"Received: {self.validation!r}"
            )


# ---------------------------------------------------------------- places and names


def data_dir() -> Path:
    """The configured data directory: `$CNN_DATA_DIR`, else Keras' dataset cache."""
    configured = os.environ.get("CNN_DATA_DIR")
    return Path(configured) if configured else keras_cache_dir()


def user_root() -> Path:
    """Where imported datasets live: `<data dir>/my_images/`, or with private
    workspaces `<data dir>/.workspaces/<id>/my_images/` (`workspaces.data_folder`)."""
    return workspaces.data_folder(data_dir()) / ROOT_NAME


def is_user_key(key: str) -> bool:
    """Whether a dataset key names an imported dataset."""
    return str(key).startswith(KEY_PREFIX)


def pads_images(key: str | None) -> bool:
    """Whether dataset `key` was stored with "keep aspect, pad" (uploads then are too)."""
    if key is None or not is_user_key(key):
        return False
    try:
        return dataset_options(read_manifest(key)).fit == "pad"
    except UserError:
        return False


def dataset_folder(key: str) -> Path:
    """The folder of an imported dataset (UserError for a malformed key)."""
    slug = str(key)[len(KEY_PREFIX) :]
    if not is_user_key(key) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", slug):
        raise UserError(f"unknown dataset {key!r}")
    return user_root() / slug


def slugify(name: str) -> str:
    """A folder name for a dataset name: lowercase ASCII letters, digits and dashes.

    Raises:
        UserError: the name is empty, too long, or has no letters or digits.
    """
    text = unicodedata.normalize("NFC", str(name)).strip()
    if not text or len(text) > 60 or not text.isprintable():
        raise UserError("give the dataset a name of 1 to 60 printable characters")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].strip("-")
    if not slug:
        raise UserError(f"the dataset name {text!r} needs at least one letter or digit (a-z, 0-9)")
    return slug


def class_label(folder_name: str) -> str:
    """A class label from a folder name: NFC-normalised, surrounding spaces removed."""
    return unicodedata.normalize("NFC", str(folder_name)).strip()


def label_clashes(labels: Iterable[str]) -> list[tuple[str, ...]]:
    """Groups of labels that differ only in case or Unicode normalisation (NFKC)."""
    groups: dict[str, list[str]] = {}
    for label in labels:
        groups.setdefault(unicodedata.normalize("NFKC", label).casefold(), []).append(label)
    return [tuple(group) for group in groups.values() if len(group) > 1]


def display_label(label: str, limit: int = LABEL_DISPLAY) -> str:
    """A label safe to show on one line: control characters escaped, at most `limit` chars."""
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def display_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """`display_label` of each label, made unique again where shortening collided."""
    out: list[str] = []
    for label in labels:
        shown = display_label(label)
        n = 2
        while shown in out:
            shown = display_label(label, LABEL_DISPLAY - 4) + f" ({n})"
            n += 1
        out.append(shown)
    return tuple(out)


def shown(name: str) -> str:
    """A file or folder name quoted for a message (escaped, shortened)."""
    text = repr(str(name))
    return text if len(text) <= 80 else text[:76] + "...'"


def server_folder(path: str) -> Path:
    """A server-side folder the user named, accepted only inside the data directory.

    Relative paths are taken relative to the data directory. Symlinks are resolved
    before the check, so a link cannot lead outside.

    Raises:
        UserError: outside the data directory, missing, or not a folder.
    """
    base = data_dir().resolve()
    raw = Path(str(path).strip()).expanduser()
    resolved = (raw if raw.is_absolute() else base / raw).resolve()
    if resolved != base and base not in resolved.parents:
        raise UserError(
            f"only folders inside the data directory {base} can be read on the server "
            f"(set CNN_DATA_DIR to choose it). Received: {shown(str(path))}"
        )
    if not resolved.is_dir():
        raise UserError(f"no folder {shown(str(path))} inside the data directory {base}")
    if resolved == user_root().resolve() or user_root().resolve() in resolved.parents:
        raise UserError("that folder holds imported datasets; choose the folder of your images")
    if workspaces.WORKSPACES_DIR in resolved.relative_to(base).parts:
        raise UserError("that folder belongs to a workspace; choose the folder of your images")
    return resolved


# ---------------------------------------------------------------- finding the files


@dataclass
class Layout:
    """The files of a folder by role; names are relative to the folder given."""

    classes: list[str]  # labels, in sorted folder order
    train: list[tuple[str, Path, int]]  # (name, path, class index)
    test: list[tuple[str, Path, int]] = field(default_factory=list)  # labelled test files
    unlabeled: list[tuple[str, Path]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


def find_layout(root: Path) -> Layout:
    """Sort the files under `root` into train (by class folder), test and unlabeled.

    Single wrapper folders (a zip's top folder) are stepped into. Symlinks are
    never followed; junk and nested archives are skipped with a reason.

    Raises:
        UserError: fewer than two class folders, labels that clash, or too many files.
    """
    root = _unwrap(root)
    subdirs = {p.name.lower(): p for p in _entries(root) if _is_dir(p)}
    train_dir, test_dir = (
        (subdirs["train"], subdirs.get("test")) if "train" in subdirs else (root, None)
    )
    skipped: list[tuple[str, str]] = []
    folders = sorted(p for p in _entries(train_dir) if _is_dir(p) and not _skip(root, p, skipped))
    if train_dir == root and test_dir is None:
        folders = [p for p in folders if p.name.lower() != "test"]
    labels = [class_label(p.name) for p in folders]
    clashes = label_clashes(labels)
    if clashes:
        pairs = "; ".join(" and ".join(shown(x) for x in group) for group in clashes)
        raise UserError(
            f"class folders whose names differ only in case or Unicode form: {pairs}. "
            "Rename or merge them."
        )
    if len(folders) < 2:
        found = ", ".join(shown(lab) for lab in labels) or "none"
        raise UserError(
            f"at least 2 class folders are needed (one folder of images per class, "
            f"e.g. train/cat and train/dog); found {len(folders)}: {found}"
        )
    index = {label: i for i, label in enumerate(labels)}
    layout = Layout(classes=labels, train=[], skipped=skipped)
    for path in _files(root, train_dir, skipped, loose_reason="not inside a class folder"):
        del path  # loose files at the top of train/ are reported by _files
    for folder, label in zip(folders, labels, strict=True):
        for path in _walk(root, folder, skipped):
            layout.train.append((_rel(root, path), path, index[label]))
    if test_dir is not None:
        _read_test(root, test_dir, index, layout)
    if len(layout.train) + len(layout.test) + len(layout.unlabeled) > MAX_FILES:
        raise UserError(f"more than {MAX_FILES:,} files: import a smaller folder")
    return layout


def _read_test(root: Path, test_dir: Path, index: dict[str, int], layout: Layout) -> None:
    folders = [p for p in _entries(test_dir) if _is_dir(p) and not _skip(root, p, layout.skipped)]
    if not folders:
        layout.unlabeled = [(_rel(root, p), p) for p in _walk(root, test_dir, layout.skipped)]
        return
    for path in _files(root, test_dir, layout.skipped, loose_reason="not inside a class folder"):
        del path
    for folder in sorted(folders):
        label = class_label(folder.name)
        if label not in index:
            for path in _walk(root, folder, layout.skipped):
                layout.skipped.append(
                    (_rel(root, path), "test class not among the training classes")
                )
            continue
        for path in _walk(root, folder, layout.skipped):
            layout.test.append((_rel(root, path), path, index[label]))


def _unwrap(root: Path) -> Path:
    """Step into single wrapper folders that hold nothing but one folder."""
    while True:
        entries = [p for p in _entries(root) if archives.skip_reason((p.name,)) is None]
        if (
            len(entries) != 1
            or not _is_dir(entries[0])
            or entries[0].name.lower() in ("train", "test")
        ):
            return root
        inner = entries[0]
        if any(not _is_dir(p) for p in _entries(inner)):
            return root  # the single folder holds files: it is a class folder
        root = inner


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        raise UserError(f"cannot read the folder {shown(folder.name)}: {error.strerror}") from error


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _skip(root: Path, path: Path, skipped: list[tuple[str, str]]) -> bool:
    """Whether to leave out a file or folder; records the reason."""
    if path.is_symlink():
        skipped.append((_rel(root, path), "a symbolic link: not followed"))
        return True
    reason = archives.skip_reason(path.relative_to(root).parts)
    if reason is not None:
        skipped.append((_rel(root, path), reason))
        return True
    return False


def _files(root: Path, folder: Path, skipped: list, loose_reason: str) -> list[Path]:
    """Plain files directly in `folder`, each reported as skipped with `loose_reason`."""
    loose = [p for p in _entries(folder) if not _is_dir(p) and not _skip(root, p, skipped)]
    skipped += [(_rel(root, p), loose_reason) for p in loose]
    return loose


def _walk(root: Path, folder: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """Every regular file under `folder` (sorted, symlinks not followed, junk skipped)."""
    found: list[Path] = []
    for path in _entries(folder):
        if _skip(root, path, skipped):
            continue
        if path.is_dir():
            found += _walk(root, path, skipped)
        elif path.is_file():
            found.append(path)
    return found


# ---------------------------------------------------------------- checking and storing


@dataclass
class CheckedSplit:
    """The accepted images of one split (their pixels went to a pixel file)."""

    names: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # -1 for unlabeled images


@dataclass
class _Stats:
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) as stored
    formats: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)  # source modes other than L / RGB


def to_pixels(image: Image.Image, options: ImageOptions) -> np.ndarray:
    """One decoded image as stored: uint8 (side, side, c) in [0, 255].

    "stretch" resizes like `cnn_core.data.images.to_model_input` (what Predict does
    with an upload); "pad" keeps the aspect ratio and pads with black.
    """
    # float32 (side, side, c), whole numbers
    values = to_model_input(image, options.shape, pad=options.fit == "pad")
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _check_one(path: Path, options: ImageOptions) -> tuple[str, Any]:
    """(sha256 hex, pixels and source facts) or ("", reason) for one file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return "", f"over {IMAGE_MB} MB"
        data = path.read_bytes()
    except OSError as error:
        return "", f"unreadable ({error.strerror})"
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            source_format, source_mode = probe.format or "?", probe.mode
    except Exception:  # noqa: BLE001 - decode_image gives the real reason below
        source_format, source_mode = "?", "?"
    try:
        image = decode_image(data, path.name)
    except UserError as error:
        return "", str(error).split(": ", 1)[-1]
    return digest, (to_pixels(image, options), image.size, source_format, source_mode)


def check_split(
    entries: list[tuple[str, Path, int]],
    options: ImageOptions,
    pixel_path: Path,
    seen: dict[str, str],
    skipped: list[tuple[str, str]],
    stats: _Stats,
    progress: Callable[[int], None] | None = None,
) -> CheckedSplit:
    """Decode every file, skip the bad and duplicate ones, append the pixels to `pixel_path`.

    Args:
        entries: (name, path, label) per file; label -1 for unlabeled images.
        options: the storage settings.
        pixel_path: raw uint8 rows (side * side * c bytes each) are appended here.
        seen: sha256 -> first name, across splits (a duplicate keeps the first copy).
        skipped: (name, reason) pairs are appended here.
        stats: source sizes, formats and converted modes are added here.
        progress: called with the number of files done so far.

    Returns:
        The accepted names and labels, in pixel-file row order.
    """
    out = CheckedSplit()
    workers = max(1, min(8, os.cpu_count() or 1))
    with open(pixel_path, "ab") as sink, ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(entries), CHECK_CHUNK):
            chunk = entries[start : start + CHECK_CHUNK]
            results = pool.map(lambda e: _check_one(e[1], options), chunk)
            for (name, _, label), (digest, result) in zip(chunk, results, strict=True):
                if not digest:
                    skipped.append((name, result))
                    continue
                if digest in seen:
                    skipped.append((name, f"duplicate of {seen[digest]}"))
                    continue
                seen[digest] = name
                pixels, size, source_format, source_mode = result
                sink.write(pixels.tobytes())
                out.names.append(name)
                out.labels.append(label)
                stats.sizes.append(size)
                stats.formats[source_format] = stats.formats.get(source_format, 0) + 1
                if source_mode not in ("L", "RGB"):
                    stats.modes[source_mode] = stats.modes.get(source_mode, 0) + 1
            if progress is not None:
                progress(start + len(chunk))
    return out


def needed_per_class(validation: float) -> int:
    """Images a class needs so a stratified split leaves it in training and validation."""
    return max(MIN_PER_CLASS, int(np.ceil(2 / validation)))


def _check_counts(classes: list[str], train: CheckedSplit, options: ImageOptions) -> list[int]:
    """Per-class training counts; UserError when a class is empty or too small."""
    counts = np.bincount(np.asarray(train.labels, dtype=np.int64), minlength=len(classes))
    if not counts.sum():
        raise UserError("no usable images were found: see the skipped files")
    need = needed_per_class(options.validation)
    empty = [shown(classes[i]) for i in np.flatnonzero(counts == 0)]
    if empty:
        raise UserError(f"these classes have no usable images: {', '.join(empty)}")
    small = [f"{shown(classes[i])} ({counts[i]})" for i in np.flatnonzero(counts < need)]
    if small:
        raise UserError(
            f"each class needs at least {need} usable images for a "
            f"{options.validation:.0%} validation share; too few: {', '.join(small)}"
        )
    return counts.tolist()


def _size_stats(stats: _Stats) -> dict[str, Any]:
    sizes = np.asarray(stats.sizes or [(0, 0)], dtype=np.int64)
    widths, heights = sizes[:, 0], sizes[:, 1]

    def summary(values: np.ndarray) -> list[int]:
        return [int(values.min()), int(np.median(values)), int(values.max())]

    return {
        "width": summary(widths),
        "height": summary(heights),
        "distinct": int(len({tuple(s) for s in sizes.tolist()})),
        "square": int((widths == heights).sum()),
        "formats": stats.formats,
        "converted_modes": stats.modes,
    }


def import_folder(
    name: str,
    root: Path,
    options: ImageOptions,
    *,
    staging: Path | None = None,
    pre_skipped: Iterable[tuple[str, str]] = (),
    source: str = "",
    progress: Progress | None = None,
) -> str:
    """Check the images under `root` and save them as dataset `name`.

    Args:
        name: the dataset's name (its key is derived from it).
        root: the folder of class folders (see the module docstring).
        options: storage settings.
        staging: a fresh folder under `user_root()` to build the dataset in (made
            here when None); it becomes the dataset folder, or is removed on error.
        pre_skipped: (name, reason) pairs the upload step already skipped.
        source: where the images came from, for the report.
        progress: called with (split, files done, files in split).

    Returns:
        The new dataset's key.

    Raises:
        UserError: bad options or name, a name already taken, bad folder layout,
            too few classes or images. Nothing is left behind.
    """
    options.check()
    slug = slugify(name)
    target = user_root() / slug
    if target.exists():
        raise UserError(f"a dataset named {name!r} exists already: choose another name")
    if staging is None:
        with archives.fresh_folder(user_root()) as made:
            return import_folder(
                name,
                root,
                options,
                staging=made,
                pre_skipped=pre_skipped,
                source=source,
                progress=progress,
            )
    try:
        manifest = _check_and_store(name, root, options, staging, list(pre_skipped), progress)
        manifest.update(key=KEY_PREFIX + slug, source=source or str(root), created=time.time())
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        if workspaces.private_enabled():  # the staging folder already counts as used
            workspaces.check_data_quota(data_dir(), 0)
        try:
            staging.rename(target)
        except OSError as error:
            raise UserError(
                f"a dataset named {name!r} exists already: choose another name"
            ) from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return KEY_PREFIX + slug


def _check_and_store(
    name: str,
    root: Path,
    options: ImageOptions,
    staging: Path,
    skipped: list[tuple[str, str]],
    progress: Progress | None,
) -> dict[str, Any]:
    layout = find_layout(root)
    skipped += layout.skipped
    seen: dict[str, str] = {}
    stats = _Stats()
    splits: dict[str, CheckedSplit] = {}
    jobs = {
        "train": layout.train,
        "test": layout.test,
        "unlabeled": [(n, p, -1) for n, p in layout.unlabeled],
    }
    for split, entries in jobs.items():
        if not entries:
            continue
        report = _split_progress(progress, split, len(entries))
        splits[split] = check_split(
            entries, options, staging / f"{split}.u8", seen, skipped, stats, report
        )
    train = splits.get("train", CheckedSplit())
    counts = _check_counts(layout.classes, train, options)
    holdout: list[int] = []
    if "test" not in splits or not splits["test"].names:
        labels = np.asarray(train.labels, dtype=np.int64)
        n_test = max(len(layout.classes), round(len(labels) * options.validation))
        holdout = sorted(stratified_order(labels, HOLDOUT_SEED)[:n_test].tolist())
        splits.pop("test", None)
    return {
        "format": MANIFEST_FORMAT,
        "name": unicodedata.normalize("NFC", name).strip(),
        "options": asdict(options),
        "classes": layout.classes,
        "splits": {k: asdict(v) for k, v in splits.items()},
        "holdout": holdout,
        "report": {"train_counts": counts, "skipped": skipped, "sizes": _size_stats(stats)},
    }


def _split_progress(progress: Progress | None, split: str, total: int) -> Callable | None:
    """`progress` bound to one split, or None."""
    if progress is None:
        return None
    return lambda done: progress(split, done, total)


def import_zip(
    name: str,
    upload: BinaryIO | Path,
    options: ImageOptions,
    limits: archives.Limits | None = None,
    progress: Progress | None = None,
) -> str:
    """Unpack an uploaded zip of class folders safely and import it (see `import_folder`)."""
    limits = limits or archives.Limits()
    source = f"zip upload {getattr(upload, 'name', '')}".strip()
    return _import_upload(
        name, options, lambda dest: archives.extract_zip(upload, dest, limits), source, progress
    )


def import_files(
    name: str,
    files: Iterable[tuple[str, BinaryIO]],
    options: ImageOptions,
    limits: archives.Limits | None = None,
    progress: Progress | None = None,
) -> str:
    """Write an uploaded folder ((relative name, stream) pairs) safely and import it."""
    limits = limits or archives.Limits()
    return _import_upload(
        name,
        options,
        lambda dest: archives.write_files(files, dest, limits),
        "folder upload",
        progress,
    )


def _import_upload(
    name: str,
    options: ImageOptions,
    write: Callable[[Path], archives.Unpacked],
    source: str,
    progress: Progress | None,
) -> str:
    """Write an upload with `write` into a fresh staging folder's `files/`, then import it."""
    options.check()
    slugify(name)  # a bad name is refused before anything is written
    with archives.fresh_folder(user_root()) as staging:
        files = staging / "files"
        files.mkdir()
        unpacked = write(files)
        return import_folder(
            name,
            unpacked.root,
            options,
            staging=staging,
            pre_skipped=unpacked.skipped,
            source=source,
            progress=progress,
        )


def import_server_folder(
    name: str, path: str, options: ImageOptions, progress: Progress | None = None
) -> str:
    """Import a folder on the server, which must lie inside the data directory."""
    folder = server_folder(path)
    return import_folder(name, folder, options, source=str(folder), progress=progress)


def delete_dataset(key: str) -> None:
    """Remove an imported dataset's folder (its pixels, manifest and uploaded files)."""
    folder = dataset_folder(key)
    if folder.is_dir():
        shutil.rmtree(folder)


# ---------------------------------------------------------------- reading back


class PixelStore:
    """Images stored as raw uint8 rows in a file, read on demand.

    Behaves like a read-only uint8 array (n, h, w, c) for `len`, `shape` and
    indexing with an int, a slice or an index array; only the rows asked for are
    read (with `os.pread`, through the OS page cache, never mapped into memory).
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, path: Path, image_shape: tuple[int, int, int], rows: np.ndarray) -> None:
        self.path = Path(path)
        self.image_shape = tuple(int(n) for n in image_shape)
        self.rows = np.asarray(rows, dtype=np.int64)  # file row of each image
        self.row_bytes = int(np.prod(self.image_shape))

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), *self.image_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, int | np.integer):
            return self.read(np.asarray([key]))[0]
        if isinstance(key, slice):
            return self.read(np.arange(len(self))[key])
        return self.read(np.asarray(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)

    def subset(self, indices: np.ndarray) -> PixelStore:
        """A store of some of these images, in the order of `indices`."""
        return PixelStore(self.path, self.image_shape, self.rows[np.asarray(indices)])

    def read(self, indices: np.ndarray) -> np.ndarray:
        """uint8 (len(indices), h, w, c) images, in the order asked."""
        rows = self.rows[np.asarray(indices, dtype=np.int64).reshape(-1)]
        out = np.empty((len(rows), *self.image_shape), dtype=np.uint8)
        flat = out.reshape(len(rows), -1)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for i, row in enumerate(rows.tolist()):
                data = os.pread(fd, self.row_bytes, row * self.row_bytes)
                if len(data) != self.row_bytes:
                    raise UserError(f"the image file {self.path} is shorter than its manifest")
                flat[i] = np.frombuffer(data, dtype=np.uint8)
        finally:
            os.close(fd)
        return out


def read_manifest(key: str) -> dict[str, Any]:
    """An imported dataset's manifest (UserError when missing or unreadable)."""
    path = dataset_folder(key) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UserError(f"the dataset {key!r} is not in {user_root()}") from error
    except (OSError, ValueError) as error:
        raise UserError(f"the dataset {key!r} is unreadable ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise UserError(f"the dataset {key!r} was saved in a format this version cannot read")
    return manifest


def dataset_options(manifest: dict[str, Any]) -> ImageOptions:
    return ImageOptions(**manifest["options"])


def validation_share(key: str) -> float | None:
    """The validation share chosen when `key` was imported: the Train and Data pages'
    validation fraction starts at it for this dataset. None for a built-in dataset
    or a manifest that cannot be read."""
    if not is_user_key(key):
        return None
    try:
        return float(dataset_options(read_manifest(key)).validation)
    except (UserError, KeyError, TypeError, ValueError):
        return None


def split_class_counts(
    labels: np.ndarray, test_labels: np.ndarray, n_classes: int, validation: float, seed: int
) -> dict[str, np.ndarray]:
    """Images per class in a run's train, validation and test splits.

    Args:
        labels: int (n,) labels of the training images (the holdout already removed).
        test_labels: int (m,) labels of the test images.
        validation: the validation fraction (< 1) or count a run holds out.
        seed: the run's seed (a stratified split moves at most one image per class).

    Returns:
        {"train": int (n_classes,), "validation": ..., "test": ...}.
    """
    train_idx, val_idx = split_indices(labels, validation_size(validation, len(labels)), seed)
    return {
        "train": class_counts(labels[train_idx], n_classes),
        "validation": class_counts(labels[val_idx], n_classes),
        "test": class_counts(test_labels, n_classes),
    }


def user_dataset_info(key: str, manifest: dict[str, Any] | None = None) -> DatasetInfo:
    """The registry entry of an imported dataset."""
    manifest = manifest or read_manifest(key)
    splits = manifest["splits"]
    n_train = len(splits["train"]["names"]) - len(manifest["holdout"])
    n_test = len(splits["test"]["names"]) if "test" in splits else len(manifest["holdout"])
    return DatasetInfo(
        key=key,
        title=f"My images: {display_label(manifest['name'], 48)}",
        class_names=display_labels(manifest["classes"]),
        image_shape=dataset_options(manifest).shape,
        folders=(),
        n_train=n_train,
        n_test=n_test,
    )


def list_user_datasets() -> dict[str, DatasetInfo]:
    """Every readable imported dataset, by key, sorted by name (broken ones left out)."""
    found: dict[str, DatasetInfo] = {}
    root = user_root()
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        key = KEY_PREFIX + folder.name
        try:
            found[key] = user_dataset_info(key)
        except (UserError, KeyError, TypeError):
            continue
    return found


def load_user_dataset(key: str) -> Dataset:
    """An imported dataset with its images as `PixelStore`s (nothing read yet)."""
    manifest = read_manifest(key)
    try:
        info = user_dataset_info(key, manifest)
        folder = dataset_folder(key)
        train = manifest["splits"]["train"]
        labels = np.asarray(train["labels"], dtype=np.int64)
        store = PixelStore(folder / "train.u8", info.image_shape, np.arange(len(labels)))
        holdout = np.asarray(manifest["holdout"], dtype=np.int64)
        if len(holdout):
            keep = np.setdiff1d(np.arange(len(labels)), holdout)
            x_train, y_train = store.subset(keep), labels[keep]
            x_test, y_test = store.subset(holdout), labels[holdout]
        else:
            test = manifest["splits"]["test"]
            y_test = np.asarray(test["labels"], dtype=np.int64)
            x_test = PixelStore(folder / "test.u8", info.image_shape, np.arange(len(y_test)))
            x_train, y_train = store, labels
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"the dataset {key!r} has a damaged manifest ({error})") from error
    return Dataset(info, x_train, y_train, x_test, y_test, source=str(folder))  # type: ignore[arg-type]


def unlabeled_images(key: str) -> tuple[list[str], PixelStore | None]:
    """The unlabeled test folder's file names and images (None when there is none)."""
    manifest = read_manifest(key)
    split = manifest["splits"].get("unlabeled")
    if not split or not split["names"]:
        return [], None
    shape = dataset_options(manifest).shape
    names = list(split["names"])
    return names, PixelStore(dataset_folder(key) / "unlabeled.u8", shape, np.arange(len(names)))


def class_samples(
    labels: np.ndarray, n_classes: int, per_class: int, seed: int = 0
) -> list[np.ndarray]:
    """Up to `per_class` seeded picks of indices for each class (int64 arrays)."""
    rng = np.random.default_rng(seed)
    picks = []
    for cls in range(n_classes):
        members = np.flatnonzero(labels == cls)
        picks.append(np.sort(rng.permutation(members)[:per_class]).astype(np.int64))
    return picks


# ---------------------------------------------------------------- tf.data


def stream(
    images: PixelStore, labels: np.ndarray, batch_size: int, *, shuffle: bool, seed: int = 0
) -> Any:
    """A `tf.data.Dataset` of (uint8 (b, h, w, c) images, int64 (b,) labels) batches.

    Index batches are shuffled (each epoch anew, seeded) in TensorFlow; the pixel rows
    of each batch are read from disk in parallel calls and prefetched, so memory holds
    a few batches, never the whole set.
    """
    from cnn_core.base.tf_runtime import import_keras

    import_keras()
    import tensorflow as tf

    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images for {len(labels)} labels")

    def read(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return images.read(batch), labels[batch]

    order = tf.data.Dataset.range(len(labels))
    if shuffle:
        order = order.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)

    def load(batch: Any) -> tuple[Any, Any]:
        x, y = tf.numpy_function(read, [batch], (tf.uint8, tf.int64))
        x.set_shape((None, *images.image_shape))
        y.set_shape((None,))
        return x, y

    return (order.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE)).prefetch(
        tf.data.AUTOTUNE
    )
