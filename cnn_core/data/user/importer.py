"""Importing a folder, a zip or an uploaded folder of images as a dataset.

All or nothing: the dataset is built in a fresh hidden staging folder under the
workspace's `user_root()` and renamed into place only when every check passed (and,
with private workspaces, the workspace's data quota allows it); on any error the
staging folder is removed, so a refused import leaves nothing behind.
"""

from __future__ import annotations

import shutil
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnn_core.base import workspace
from cnn_core.base.errors import UserError
from cnn_core.data import archives
from cnn_core.data.splits import stratified_order
from cnn_core.data.user.checking import CheckedSplit, SourceStats, check_counts, check_split
from cnn_core.data.user.layout import find_layout
from cnn_core.data.user.manifest import ImportReport, Manifest, SplitFiles, write_manifest
from cnn_core.data.user.names import KEY_PREFIX, slugify
from cnn_core.data.user.options import ImageOptions
from cnn_core.data.user.places import data_dir, server_folder, user_root

HOLDOUT_SEED = 0  # the fixed seed of the test split of a dataset without a test folder
Progress = Callable[[str, int, int], None]  # (split, files done, files in the split)


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
        root: the folder of class folders (see `cnn_core.data.user.layout`).
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
        manifest = _check_and_store(
            KEY_PREFIX + slug, name, root, options, staging, list(pre_skipped), progress
        )
        _publish(staging, target, _with_origin(manifest, source or str(root)))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest.key


def _publish(staging: Path, target: Path, manifest: Manifest) -> None:
    """Write the manifest into `staging`, then rename it to the dataset's folder `target`.

    Raises:
        UserError: over the workspace's data quota, or the name was taken meanwhile.
    """
    write_manifest(staging, manifest)
    if workspace.private_enabled():  # the staging folder already counts as used
        workspace.check_data_quota(data_dir(), 0)
    try:
        staging.rename(target)
    except OSError as error:
        raise UserError(
            f"a dataset named {manifest.name!r} exists already: choose another name"
        ) from error


def _check_and_store(
    key: str,
    name: str,
    root: Path,
    options: ImageOptions,
    staging: Path,
    skipped: list[tuple[str, str]],
    progress: Progress | None,
) -> Manifest:
    """Check and store every split's files in `staging`; the manifest that describes them."""
    layout = find_layout(root)
    skipped += layout.skipped
    seen: dict[str, str] = {}
    stats = SourceStats()
    splits: dict[str, CheckedSplit] = {}
    jobs = {
        "train": layout.train,
        "test": layout.test,
        "unlabeled": [(n, p, -1) for n, p in layout.unlabeled],
    }
    for split, entries in jobs.items():
        if entries:
            report = _split_progress(progress, split, len(entries))
            splits[split] = check_split(
                entries, options, staging / f"{split}.u8", seen, skipped, stats, report
            )
    train = splits.get("train", CheckedSplit())
    counts = check_counts(layout.classes, train, options)
    test = splits.get("test")
    holdout: list[int] = []
    if test is None or not test.names:
        holdout = _holdout(train, len(layout.classes), options.validation)
        test = None
    return Manifest(
        key=key,
        name=unicodedata.normalize("NFC", name).strip(),
        options=options,
        classes=tuple(layout.classes),
        train=_frozen(train),
        test=_frozen(test) if test is not None else None,
        unlabeled=_frozen(splits["unlabeled"]) if "unlabeled" in splits else None,
        holdout=tuple(holdout),
        report=ImportReport(tuple(counts), tuple(skipped), stats.summary()),
        source="",
        created=0.0,
    )


def _holdout(train: CheckedSplit, n_classes: int, share: float) -> list[int]:
    """Rows of `train` held out once as the test set: a stratified `share`, fixed seed."""
    labels = np.asarray(train.labels, dtype=np.int64)
    n_test = max(n_classes, round(len(labels) * share))
    return sorted(stratified_order(labels, HOLDOUT_SEED)[:n_test].tolist())


def _frozen(split: CheckedSplit) -> SplitFiles:
    return SplitFiles(tuple(split.names), tuple(split.labels))


def _with_origin(manifest: Manifest, source: str) -> Manifest:
    """`manifest` stamped with where the images came from and when they were saved."""
    return replace(manifest, source=source, created=time.time())


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
