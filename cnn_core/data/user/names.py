"""Names of imported datasets and their classes: keys, folder slugs, labels as stored
and as shown. Class and file names are user data, so every way of showing one escapes
control characters and bounds its length."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from cnn_core.base.errors import UserError

KEY_PREFIX = "my-"
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # what `slugify` makes
LABEL_DISPLAY = 32  # characters of a class name shown in charts and captions


def is_user_key(key: str) -> bool:
    """Whether a dataset key names an imported dataset."""
    return str(key).startswith(KEY_PREFIX)


def key_slug(key: str) -> str:
    """The folder name in an imported dataset's key (UserError for a malformed key, so
    that no key can name a folder outside the datasets' folder)."""
    slug = str(key)[len(KEY_PREFIX) :]
    if not is_user_key(key) or not SLUG_PATTERN.fullmatch(slug):
        raise UserError(f"unknown dataset {key!r}")
    return slug


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
        shown_label = display_label(label)
        n = 2
        while shown_label in out:
            shown_label = display_label(label, LABEL_DISPLAY - 4) + f" ({n})"
            n += 1
        out.append(shown_label)
    return tuple(out)


def shown(name: str) -> str:
    """A file or folder name quoted for a message (escaped, shortened)."""
    text = repr(str(name))
    return text if len(text) <= 80 else text[:76] + "...'"
