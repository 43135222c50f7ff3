"""Safe image decoding and preprocessing for prediction (uploads and the drawing canvas).

Everything here is numpy + Pillow; TensorFlow is never imported. Every array
returned to callers is float32 raw pixels in [0, 255], the scale training feeds
the models (they rescale with their own ``Rescaling(1/255)`` layer), so it goes
to a model as it is. For ink maps and digits, 0 is no ink and 255 full ink.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import IMAGE_BYTES, IMAGE_MB, megabytes

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
UPLOAD_SUFFIXES = ("png", "jpg", "jpeg", "bmp", "gif", "webp")  # file endings of those formats
MAX_PIXELS = 25_000_000  # checked on the header, before any pixel is decoded
MIN_SIDE = 8  # px; smaller images carry nothing a classifier can use
MAX_CANVAS_SIDE = 2000  # px; the app's canvas is 280 px (x device pixel ratio)

WHITE = (255, 255, 255)
FULL = 255.0  # full ink / white, in raw pixel units
INK_THRESHOLD = 0.1 * FULL  # grey values (in [0, 255]) below this are faint noise, not ink
DIGIT_BOX = 20  # MNIST: the longer side of the digit is scaled to 20 px...
DIGIT_FIELD = 28  # ...and the digit placed in a 28 x 28 field
DIGIT_CENTRE = 14.0  # where the centre of mass goes, in (row, column) index units
NOTHING_DRAWN = "nothing drawn: draw a digit"

_NOT_AN_IMAGE = f"not an image Pillow can read safely (allowed: {', '.join(ALLOWED_FORMATS)})"
_ALPHA_MODES = ("LA", "La", "RGBA", "RGBa")
_MAX_WORK_SIDE = 560  # px; photos are shrunk to this before digit extraction
_UNIT_INK_THRESHOLD = INK_THRESHOLD / FULL  # the same threshold for ink weights in [0, 1]


def decode_image(
    data: bytes, name: str = "image", *, background: tuple[int, int, int] = WHITE
) -> Image.Image:
    """Decode untrusted bytes into an 8-bit "L" or "RGB" Pillow image.

    Only the formats in ``ALLOWED_FORMATS`` are tried. The size is checked on
    the header before decoding; EXIF orientation is applied; animations give
    their first frame; transparency is composited onto ``background``.

    Args:
        data: the file's bytes, e.g. ``UploadedFile.getvalue()``.
        name: the file name, used only in error messages.
        background: RGB colour (0..255 each) under transparent pixels.

    Returns:
        A fully loaded image in mode "L" (greyscale sources) or "RGB".

    Raises:
        UserError: empty data, a file over ``IMAGE_MB`` (``cnn_core.base.upload_limits``),
            not an allowed image, truncated or corrupt data, a decompression bomb,
            or an image smaller than ``MIN_SIDE``.
    """
    label = _label(name)
    if not data:
        raise UserError(f"{label}: the file is empty")
    if len(data) > IMAGE_BYTES:  # the uploaders' own limit is checked by the browser only
        raise UserError(
            f"{label}: the file is {megabytes(len(data))}, "
            f"over the {IMAGE_MB} MB limit for one image"
        )
    image = _open(data, label)
    width, height = image.size  # from the header only; nothing decoded yet
    if width * height > MAX_PIXELS:
        raise UserError(
            f"{label}: {width}x{height} pixels is over the {MAX_PIXELS // 1_000_000} "
            "megapixel limit (possible decompression bomb)"
        )
    if min(width, height) < MIN_SIDE:
        raise UserError(
            f"{label}: image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} needed"
        )
    try:
        image.load()  # the first frame only; later frames are never decoded
    # MAX_PIXELS is below Image.MAX_IMAGE_PIXELS, so Pillow's bomb checks only fire
    # here if someone lowered that global; still report them as bombs.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UserError(f"{label}: too large to decode safely (decompression bomb)") from error
    except Exception as error:  # hostile bytes make Pillow raise many types
        raise UserError(f"{label}: the image data is truncated or corrupt") from error
    return _to_l_or_rgb(_upright(image), background, label)


def canvas_to_digit(image_data: object) -> np.ndarray | None:
    """Turn the drawing canvas' payload into an MNIST-style digit.

    Args:
        image_data: what ``st_canvas(..., return_image_data=True).image_data``
            returns: an (H, W, 4) RGBA array, values 0..255 (H, W, 3 is
            accepted as opaque). It comes from the browser, so it is checked.

    Returns:
        float32 (28, 28, 1) in [0, 255], the digit bright on black and centred
        the MNIST way (``center_digit``); None when nothing is drawn (no pixel
        reaches ``INK_THRESHOLD``).

    Raises:
        UserError: a missing or malformed payload ("canvas: ...").
    """
    ink = _canvas_ink(image_data)  # (H, W) in [0, 255]
    if not (ink >= INK_THRESHOLD).any():
        return None
    return center_digit(ink)[..., np.newaxis]


def center_digit(gray: np.ndarray) -> np.ndarray:
    """Normalise a bright-on-dark digit the way MNIST was made.

    Faint noise is zeroed, the ink is cropped to its bounding box, the longer
    side is scaled to 20 px (aspect kept, antialiased), and the result is placed
    in a 28 x 28 field with its centre of mass at (14, 14). Where that would push
    ink off the field (very lopsided shapes), the digit stops at the edge. The
    geometry works on ink weights in [0, 1] (see ``_centre_ink``).

    Args:
        gray: float array (H, W) of any size in [0, 255], digit bright.

    Returns:
        float32 array (28, 28) in [0, 255].

    Raises:
        UserError: when there is no ink.
        ValueError: when ``gray`` is not a 2-D array.
    """
    ink = np.asarray(gray, dtype=np.float32)
    if ink.ndim != 2:
        raise ValueError(f"gray must be a 2-D array. Received: shape={ink.shape}")
    return _centre_ink(np.clip(np.nan_to_num(ink), 0.0, FULL) * (1 / FULL)) * FULL


def to_digit_input(image: Image.Image) -> np.ndarray:
    """Prepare a photo or scan of a digit for an MNIST-style model.

    The image is made grey; a light background (judged by the median of the
    border pixels) is inverted to dark; the background level is subtracted and
    the contrast stretched so the strongest ink is 255; then centred like ``center_digit``.

    Args:
        image: any Pillow image, typically from ``decode_image``.

    Returns:
        float32 array (28, 28) in [0, 255], digit bright on black.

    Raises:
        UserError: when no digit stands out from the background.
    """
    grey = _to_l_or_rgb(image, WHITE, "image").convert("L")
    if max(grey.size) > _MAX_WORK_SIDE:  # the digit ends up 20 px; spare the work
        scale = _MAX_WORK_SIDE / max(grey.size)
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BOX)
    values = np.asarray(grey, dtype=np.float32) / FULL  # (H, W) ink weights in [0, 1]
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        values, background = 1.0 - values, 1.0 - background
    contrast = float(values.max()) - background
    if contrast < _UNIT_INK_THRESHOLD:
        raise UserError("no digit found: the image has no marks that stand out")
    return _centre_ink(np.clip((values - background) / contrast, 0.0, 1.0)) * FULL


def to_item_input(image: Image.Image) -> np.ndarray:
    """Prepare a photo of an object for a Fashion-MNIST-style model.

    Fashion-MNIST items are light on black and fill the 28 x 28 frame: the image
    is made grey, a light background is inverted, and the whole picture is
    scaled so its longer side is 28 px (aspect kept), centred on black.

    Returns:
        float32 array (28, 28) in [0, 255].
    """
    grey = _to_l_or_rgb(image, WHITE, "image").convert("L")
    values = np.asarray(grey, dtype=np.float32)  # (H, W) in [0, 255]
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    if float(np.median(border)) > FULL / 2:
        values = FULL - values
    fitted = _fit_longer_side(values, DIGIT_FIELD)  # (<= 28, <= 28), clipped below
    out = np.zeros((DIGIT_FIELD, DIGIT_FIELD), np.float32)
    top, left = (DIGIT_FIELD - fitted.shape[0]) // 2, (DIGIT_FIELD - fitted.shape[1]) // 2
    out[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return np.clip(out, 0.0, FULL)


def to_model_input(
    image: Image.Image, input_shape: tuple[int, int, int], digits: bool = True, pad: bool = False
) -> np.ndarray:
    """Turn an image into what a model with ``input_shape`` sees.

    (28, 28, 1) models get the MNIST digit recipe (``to_digit_input``), or with
    ``digits=False`` (e.g. Fashion-MNIST) ``to_item_input``; other shapes get a
    plain antialiased resize (aspect ratio not kept, like Keras'
    ``image_dataset_from_directory``) to 1 or 3 channels, or with ``pad`` a
    resize that keeps the aspect ratio and pads with black (how an image folder
    imported with "keep aspect, pad" was stored).

    Args:
        image: any Pillow image, typically from ``decode_image``.
        input_shape: the model's (height, width, channels), batch axis excluded.
        digits: whether a 28 x 28 x 1 model reads handwritten digits.
        pad: keep the aspect ratio and pad with black instead of stretching.

    Returns:
        float32 array (height, width, channels) in [0, 255].

    Raises:
        UserError: a digit image without ink, or an unsupported colour mode.
        ValueError: for a shape this cannot feed (channels not 1 or 3, or
            unknown / non-positive / huge sides).
    """
    height, width, channels = _checked_shape(input_shape)
    if (height, width, channels) == (DIGIT_FIELD, DIGIT_FIELD, 1):
        prepared = to_digit_input(image) if digits else to_item_input(image)
        return prepared[..., np.newaxis]
    mode = "L" if channels == 1 else "RGB"
    converted = _to_l_or_rgb(image, WHITE, "image").convert(mode)
    if pad:
        converted = ImageOps.pad(converted, (width, height), color=0)
    resized = converted.resize((width, height), Image.Resampling.BILINEAR)
    values = np.asarray(resized, dtype=np.float32)  # 0..255
    return values.reshape(height, width, channels)


def _label(name: str) -> str:
    """A file name made safe for a one-line message: printable, at most 60 chars."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(name)).strip()
    text = text or "image"
    return text if len(text) <= 60 else text[:57] + "..."


def _open(data: bytes, label: str) -> Image.Image:
    """Identify the format and read the header (no pixel data) from the allowlist."""
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UserError(f"{label}: too large to decode safely (decompression bomb)") from error
    except Exception as error:  # UnidentifiedImageError, and worse for hostile bytes
        raise UserError(f"{label}: {_NOT_AN_IMAGE}") from error
    if image.format not in ALLOWED_FORMATS:  # belt and braces: formats= already limits this
        raise UserError(f"{label}: {_NOT_AN_IMAGE}")
    return image


def _upright(image: Image.Image) -> Image.Image:
    """A detached copy with the EXIF orientation applied (unchanged if EXIF is broken)."""
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not reject a readable image
        upright = None
    return upright if upright is not None else image.copy()


def _to_l_or_rgb(image: Image.Image, background: tuple[int, int, int], label: str) -> Image.Image:
    """Convert any Pillow mode explicitly to 8-bit "L" or "RGB"."""
    mode = image.mode
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert("LA" if mode == "L" else "RGBA")
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode in _ALPHA_MODES:
        return _composite(image, background)
    if mode.startswith("I"):  # 16-bit PNG greyscale and 32-bit integer grey
        return _rescale_to_l(np.asarray(image), full_scale=65535.0)
    if mode == "F":
        return _rescale_to_l(np.asarray(image), full_scale=1.0)
    if mode == "1":
        return image.convert("L")
    try:  # CMYK, YCbCr, LAB, HSV and the rest
        return image.convert("RGB")
    except ValueError as error:
        raise UserError(f"{label}: unsupported colour mode {mode}") from error


def _composite(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Flatten an image with alpha (straight or premultiplied) onto a solid background."""
    values = np.asarray(image, dtype=np.float32)  # (H, W, 2 or 4), 0..255
    colour, alpha = values[..., :-1], values[..., -1:] / 255  # alpha in [0, 1]
    grey = image.mode in ("LA", "La")
    red, green, blue = background
    under = np.array([0.299 * red + 0.587 * green + 0.114 * blue] if grey else background)
    if image.mode in ("LA", "RGBA"):  # straight alpha; "La" / "RGBa" are premultiplied
        colour = colour * alpha
    flat = np.clip(np.rint(colour + under * (1 - alpha)), 0, 255).astype(np.uint8)
    return Image.fromarray(flat[..., 0] if grey else flat)


def _rescale_to_l(values: np.ndarray, full_scale: float) -> Image.Image:
    """Scale high-bit-depth grey to 8 bit without clamping.

    Values within [0, full_scale] keep their absolute brightness (65535 -> 255,
    1.0 -> 255); anything outside is stretched from its own min..max.
    """
    values = values.astype(np.float64)  # (H, W)
    values[~np.isfinite(values)] = 0.0
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high <= full_scale:
        scaled = values * (255 / full_scale)
    elif high > low:
        scaled = (values - low) * (255 / (high - low))
    else:
        scaled = np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _canvas_ink(image_data: object) -> np.ndarray:
    """The canvas payload as an ink map: float32 (H, W) in [0, 255], 255 full ink.

    Ink is the brightest colour channel times alpha, so a transparent
    background counts as black. Raises UserError for a malformed payload.
    """
    pixels = _checked_canvas(image_data)  # (H, W, C) in 0..255
    # Element-wise maxima: much faster than a max over the short channel axis.
    ink = np.maximum(np.maximum(pixels[..., 0], pixels[..., 1]), pixels[..., 2])
    ink = ink.astype(np.float32)  # (H, W) in [0, 255]
    if pixels.shape[-1] == 4:
        ink *= pixels[..., 3].astype(np.float32) * (1 / FULL)  # alpha as a weight in [0, 1]
    return ink


def _checked_canvas(image_data: object) -> np.ndarray:
    """Validate a canvas payload; returns it as an (H, W, 3 or 4) array in 0..255."""
    if image_data is None:
        raise UserError("canvas: no drawing received")
    if not isinstance(image_data, np.ndarray):
        raise UserError(f"canvas: expected an image array, got {type(image_data).__name__}")
    shape = image_data.shape
    if image_data.ndim != 3 or shape[-1] not in (3, 4):
        raise UserError(f"canvas: expected an RGBA array of shape (H, W, 4), got {shape}")
    if not (0 < shape[0] <= MAX_CANVAS_SIDE and 0 < shape[1] <= MAX_CANVAS_SIDE):
        raise UserError(f"canvas: size {shape[1]}x{shape[0]} is outside 1..{MAX_CANVAS_SIDE} px")
    if image_data.dtype.kind not in "uif":
        raise UserError(f"canvas: expected numeric pixel values, got dtype {image_data.dtype}")
    if image_data.dtype.kind == "f" and not np.isfinite(image_data).all():
        raise UserError("canvas: pixel values must be finite numbers")
    if image_data.min() < 0 or image_data.max() > 255:
        raise UserError("canvas: pixel values must lie in 0..255")
    return image_data


def _centre_ink(ink: np.ndarray) -> np.ndarray:
    """``center_digit`` on ink weights: float32 (H, W) in [0, 1] -> (28, 28) in [0, 1].

    The centring rounds the centre of mass to whole pixels, so it runs on one
    fixed scale: every caller gets the same placement for the same drawing.
    """
    ink = ink.copy()
    ink[ink < _UNIT_INK_THRESHOLD] = 0.0
    if not ink.any():
        raise UserError(NOTHING_DRAWN)
    rows, cols = np.nonzero(ink)
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    fitted = np.clip(_fit_longer_side(box, DIGIT_BOX), 0.0, 1.0)
    return _place_by_mass(fitted)


def _fit_longer_side(box: np.ndarray, side: int) -> np.ndarray:
    """Resize float (h, w) so its longer side is ``side`` px, aspect kept, antialiased.

    Lanczos overshoots a little past the input's range; callers clip.
    """
    height, width = box.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # Pillow: (w, h)
    resized = Image.fromarray(box.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.float32)


def _place_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste float (h, w) <= 20 px into 28 x 28 with its centre of mass at (14, 14)."""
    height, width = digit.shape
    rows, cols = np.indices(digit.shape)
    mass = float(digit.sum())
    centre_row, centre_col = (rows * digit).sum() / mass, (cols * digit).sum() / mass
    top = int(np.clip(round(DIGIT_CENTRE - centre_row), 0, DIGIT_FIELD - height))
    left = int(np.clip(round(DIGIT_CENTRE - centre_col), 0, DIGIT_FIELD - width))
    field = np.zeros((DIGIT_FIELD, DIGIT_FIELD), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return field


def _checked_shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Validate a model's (h, w, c) input shape for feeding one image (ValueError if not)."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(n, (int, np.integer)) for n in shape):
        raise ValueError(f"model input shape {shape} is not supported (need height, width, 1 or 3)")
    height, width, channels = (int(n) for n in shape)
    if channels not in (1, 3):
        raise ValueError(f"model input shape {shape}: expected 1 or 3 channels, got {channels}")
    if not (0 < height <= 4096 and 0 < width <= 4096):
        raise ValueError(f"model input shape {shape}: sides must be 1..4096 px")
    return height, width, channels
