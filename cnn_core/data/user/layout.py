"""Which files of a folder are training, test and unlabeled images.

The layout is the one Keras' ``image_dataset_from_directory`` expects: one folder
per class, under ``train/`` or at the top, and optionally a ``test/`` folder with
the same class folders (a labelled test set) or with images only (unlabeled).
Symlinks are never followed; junk (``__MACOSX``, dot files, nested archives) is
skipped with a reason, as `cnn_core.data.archives` names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnn_core.base.errors import UserError
from cnn_core.data import archives
from cnn_core.data.user.names import class_label, label_clashes, shown

MAX_FILES = 200_000  # files looked at in one import
LOOSE = "not inside a class folder"  # the reason a file beside the class folders is skipped


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
    _check_classes(labels)
    index = {label: i for i, label in enumerate(labels)}
    layout = Layout(classes=labels, train=[], skipped=skipped)
    _skip_loose(root, train_dir, skipped)
    for folder, label in zip(folders, labels, strict=True):
        for path in _walk(root, folder, skipped):
            layout.train.append((_rel(root, path), path, index[label]))
    if test_dir is not None:
        _read_test(root, test_dir, index, layout)
    if len(layout.train) + len(layout.test) + len(layout.unlabeled) > MAX_FILES:
        raise UserError(f"more than {MAX_FILES:,} files: import a smaller folder")
    return layout


def _check_classes(labels: list[str]) -> None:
    """UserError unless there are two or more class labels that do not clash."""
    clashes = label_clashes(labels)
    if clashes:
        pairs = "; ".join(" and ".join(shown(x) for x in group) for group in clashes)
        raise UserError(
            f"class folders whose names differ only in case or Unicode form: {pairs}. "
            "Rename or merge them."
        )
    if len(labels) < 2:
        found = ", ".join(shown(lab) for lab in labels) or "none"
        raise UserError(
            f"at least 2 class folders are needed (one folder of images per class, "
            f"e.g. train/cat and train/dog); found {len(labels)}: {found}"
        )


def _read_test(root: Path, test_dir: Path, index: dict[str, int], layout: Layout) -> None:
    """Add `test_dir`'s files: labelled by class folder, or unlabeled when it has none."""
    folders = [p for p in _entries(test_dir) if _is_dir(p) and not _skip(root, p, layout.skipped)]
    if not folders:
        layout.unlabeled = [(_rel(root, p), p) for p in _walk(root, test_dir, layout.skipped)]
        return
    _skip_loose(root, test_dir, layout.skipped)
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


def _skip_loose(root: Path, folder: Path, skipped: list[tuple[str, str]]) -> None:
    """Report the plain files directly in `folder` (beside its class folders) as skipped."""
    loose = [p for p in _entries(folder) if not _is_dir(p) and not _skip(root, p, skipped)]
    skipped += [(_rel(root, p), LOOSE) for p in loose]


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
