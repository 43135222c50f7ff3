"""Generated class folders of coloured shapes, for tests and benchmarks of "My images".

    python scripts/shape_images.py OUT [--per-class 100] [--size 64]

writes OUT/train/{circle,square,triangle}/*.png|jpg (alternating formats): each
image a shape in its class's colour family, at a random place and size, on a
random light background with noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
COLOURS = {"circle": (200, 40, 40), "square": (40, 160, 40), "triangle": (40, 60, 200)}


def shape_image(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB image (size x size) of a `kind` shape."""
    background = tuple(int(v) for v in rng.integers(170, 256, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.2, 0.4) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    colour = tuple(int(np.clip(c + rng.integers(-30, 31), 0, 255)) for c in COLOURS[kind])
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if kind == "circle":
        draw.ellipse(box, fill=colour)
    elif kind == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon(
            [(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], colour
        )
    noise = rng.normal(0, 8, (size, size, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def write_shapes(
    root: Path,
    per_class: int = 100,
    size: int = 64,
    seed: int = 0,
    split: str = "train",
    formats: tuple[str, ...] = ("png", "jpg"),
) -> Path:
    """Write `per_class` images per class under `root/split/<class>/`; returns `root`.

    Image i is saved in `formats[i % len(formats)]` (JPEG at quality 90).
    """
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        folder = root / split / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = shape_image(kind, size, rng)
            suffix = formats[i % len(formats)]
            image.save(folder / f"{kind}_{i:05d}.{suffix}", quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    write_shapes(args.out, args.per_class, args.size)
    print(f"wrote {3 * args.per_class} images under {args.out}")


if __name__ == "__main__":
    main()
