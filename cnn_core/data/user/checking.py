"""Checking image files and storing the good ones as pixel rows.

Every file is decoded with the upload rules of `cnn_core.data.images.decode_image`
(format allowlist, pixel limit, forced decode, EXIF, every mode converted); junk,
corrupt files and duplicates (by SHA-256, across splits) are skipped with a reason.
An accepted image is resized as `to_pixels` says and appended to its split's pixel
file as one raw uint8 row. Files are decoded in threads, one chunk at a time, so
memory holds one chunk of images, never the whole set.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import IMAGE_BYTES, IMAGE_MB
from cnn_core.data.images import decode_image, to_model_input
from cnn_core.data.user.manifest import SizeSummary
from cnn_core.data.user.names import shown
from cnn_core.data.user.options import ImageOptions, needed_per_class

MAX_FILE_BYTES = IMAGE_BYTES  # a single image file larger than this is skipped
CHECK_CHUNK = 256  # images decoded (in threads) before their pixels are written


@dataclass
class CheckedSplit:
    """The accepted images of one split (their pixels went to a pixel file)."""

    names: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # -1 for unlabeled images


@dataclass
class SourceStats:
    """What the accepted files were before resizing, gathered across splits."""

    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) as stored
    formats: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)  # source modes other than L / RGB

    def add(self, size: tuple[int, int], source_format: str, source_mode: str) -> None:
        self.sizes.append(size)
        self.formats[source_format] = self.formats.get(source_format, 0) + 1
        if source_mode not in ("L", "RGB"):
            self.modes[source_mode] = self.modes.get(source_mode, 0) + 1

    def summary(self) -> SizeSummary:
        """Min, median and max width and height, distinct and square sizes, formats."""
        sizes = np.asarray(self.sizes or [(0, 0)], dtype=np.int64)
        widths, heights = sizes[:, 0], sizes[:, 1]

        def spread(values: np.ndarray) -> tuple[int, int, int]:
            return (int(values.min()), int(np.median(values)), int(values.max()))

        return SizeSummary(
            width=spread(widths),
            height=spread(heights),
            distinct=int(len({tuple(s) for s in sizes.tolist()})),
            square=int((widths == heights).sum()),
            formats=dict(self.formats),
            converted_modes=dict(self.modes),
        )


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
    stats: SourceStats,
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
                stats.add(size, source_format, source_mode)
            if progress is not None:
                progress(start + len(chunk))
    return out


def check_counts(classes: list[str], train: CheckedSplit, options: ImageOptions) -> list[int]:
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
