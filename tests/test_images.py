"""cnn_core.data.images: safe decoding, mode conversion, canvas and digit preprocessing."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnn_core.base.errors import UserError
from cnn_core.data import images

RNG_SEED = 0
CANVAS = 280  # px, the app's drawing canvas


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """Save a Pillow image to bytes in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_with_header(width: int, height: int) -> bytes:
    """A tiny 8-bit grey PNG whose IHDR declares ``width`` x ``height`` (pixels mostly absent)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)  # a few rows at most; never enough for the header
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def noise_image(size: tuple[int, int] = (64, 64)) -> Image.Image:
    """An RGB image of random pixels (compresses badly, so truncation hits pixel data)."""
    rng = np.random.default_rng(RNG_SEED)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def draw_seven(box: tuple[int, int, int, int], *, ink: int = 255, paper: int = 0) -> Image.Image:
    """A "7" on a 280 x 280 "L" canvas, stroke width proportional to the box size."""
    left, top, right, bottom = box
    canvas = Image.new("L", (CANVAS, CANVAS), paper)
    stroke = max(1, round((right - left) * 0.12))
    points = [(left, top), (right, top), (left + 0.3 * (right - left), bottom)]
    ImageDraw.Draw(canvas).line(points, fill=ink, width=stroke, joint="curve")
    return canvas


def as_canvas_payload(grey: Image.Image) -> np.ndarray:
    """What st_canvas returns for a white-on-black drawing: uint8 (H, W, 4), opaque."""
    return np.asarray(grey.convert("RGBA"))


def centre_of_mass(values: np.ndarray) -> tuple[float, float]:
    """Centre of mass (row, column) of a non-negative 2-D array."""
    rows, cols = np.indices(values.shape)
    mass = values.sum()
    return float((rows * values).sum() / mass), float((cols * values).sum() / mass)


def naive_28(grey: Image.Image) -> np.ndarray:
    """The whole canvas squashed to 28 x 28, float in [0, 255] (what not to do)."""
    return np.asarray(grey.resize((28, 28), Image.Resampling.BOX), dtype=np.float32)


# --- decode_image: rejections -------------------------------------------------------------


def rejection(data: bytes, name: str = "upload.bin") -> str:
    """Decode ``data`` expecting a UserError; return its message."""
    with pytest.raises(UserError) as info:
        images.decode_image(data, name)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(name.replace("\n", "?"))
    return message


def test_only_allowed_formats_are_offered_to_pillow(monkeypatch):
    seen = []
    real_open = Image.open

    def spy(fp, mode="r", formats=None):
        seen.append(formats)
        return real_open(fp, mode, formats)

    monkeypatch.setattr(Image, "open", spy)
    images.decode_image(encode(Image.new("RGB", (16, 16))), "ok.png")
    assert seen == [images.ALLOWED_FORMATS]
    assert not {"EPS", "PDF", "PSD", "FITS", "TIFF"} & set(seen[0])


def test_empty_bytes_are_rejected():
    assert "empty" in rejection(b"", "blank.png")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", b"hello, this is plainly not an image\n" * 20),
        ("doc.pdf", encode(Image.new("RGB", (32, 32)), "PDF")),
        ("art.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\nshowpage\n"),
        ("scan.tif", encode(Image.new("RGB", (32, 32)), "TIFF")),  # Pillow reads it; not allowed
    ],
)
def test_non_allowed_payloads_are_rejected(name, data):
    message = rejection(data, name)
    assert "not an image" in message
    assert "PNG, JPEG, BMP, GIF, WEBP" in message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_rejected(fmt):
    data = encode(noise_image((96, 96)), fmt)
    message = rejection(data[: len(data) // 2], f"cut.{fmt.lower()}")
    assert "truncated" in message


def test_header_over_pixel_limit_is_rejected_before_decoding():
    # 6000 x 6000 = 36 MP: over our limit, under Pillow's own; the pixel data is
    # absent, so only a header check (not a decode) can yield the bomb message.
    data = png_with_header(6000, 6000)
    assert len(data) < 200
    message = rejection(data, "bomb.png")
    assert "decompression bomb" in message
    assert "6000x6000" in message


def test_pillow_decompression_bomb_error_is_reported():
    # 20000 x 20000 is over twice Image.MAX_IMAGE_PIXELS: Pillow itself refuses to open it.
    side = 20000
    assert side * side > 2 * Image.MAX_IMAGE_PIXELS
    assert "decompression bomb" in rejection(png_with_header(side, side), "huge.png")


def test_zero_size_header_is_rejected():
    # Pillow cannot write a 0x0 image; a crafted 0x0 header must still be refused.
    assert "not an image" in rejection(png_with_header(0, 0), "zero.png")


@pytest.mark.parametrize("size", [(1, 1), (images.MIN_SIDE - 1, 50), (50, images.MIN_SIDE - 1)])
def test_too_small_images_are_rejected(size):
    message = rejection(encode(Image.new("L", size, 128)), "tiny.png")
    assert f"{size[0]}x{size[1]}" in message
    assert f"at least {images.MIN_SIDE}x{images.MIN_SIDE}" in message


def test_file_name_is_made_one_line():
    message = rejection(b"junk", "evil\nname.png")
    assert message.startswith("evil?name.png")


# --- decode_image: mode conversion --------------------------------------------------------


def test_rgba_is_composited_on_white_by_default_and_on_given_background():
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[:, :8] = (255, 0, 0, 0)  # fully transparent red: must vanish
    rgba[:, 8:12] = (0, 0, 255, 255)  # opaque blue
    rgba[:, 12:] = (0, 0, 0, 128)  # half-transparent black
    data = encode(Image.fromarray(rgba))
    on_white = images.decode_image(data, "a.png")
    on_black = images.decode_image(data, "a.png", background=(0, 0, 0))
    assert on_white.mode == on_black.mode == "RGB"
    white, black = np.asarray(on_white).astype(int), np.asarray(on_black).astype(int)
    assert (white[:, :8] == 255).all() and (black[:, :8] == 0).all()
    assert (white[:, 8:12] == (0, 0, 255)).all()
    assert np.abs(white[:, 12:] - 255 * (1 - 128 / 255)).max() <= 1


def test_la_becomes_grey_on_white():
    la = np.zeros((16, 16, 2), dtype=np.uint8)
    la[:8] = (40, 255)  # opaque dark grey
    la[8:] = (0, 0)  # transparent
    decoded = images.decode_image(encode(Image.fromarray(la)), "la.png")
    assert decoded.mode == "L"
    values = np.asarray(decoded)
    assert (values[:8] == 40).all() and (values[8:] == 255).all()


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_is_composited(fmt):
    palette_image = Image.new("P", (16, 16), 1)
    palette_image.putpalette([0, 0, 0, 200, 0, 0] + [0, 0, 0] * 254)
    palette_image.paste(0, (0, 0, 8, 16))  # index 0 is the transparent one
    decoded = images.decode_image(encode(palette_image, fmt, transparency=0), f"p.{fmt}")
    assert decoded.mode == "RGB"
    values = np.asarray(decoded).astype(int)
    assert (values[:, :8] == 255).all()
    assert (values[:, 8:] == (200, 0, 0)).all()


def test_sixteen_bit_grey_is_scaled_not_clamped():
    gradient = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (8, 1))
    source = Image.fromarray(gradient)
    assert source.mode.startswith("I;16")
    decoded = images.decode_image(encode(source), "deep.png")
    assert decoded.mode == "L"
    row = np.asarray(decoded)[0].astype(int)
    assert (np.diff(row) >= 0).all()  # ordering kept
    assert row.max() >= 254 and row.min() <= 1
    assert len(np.unique(row)) > 200  # a clamp would give a few levels
    assert (row == 255).mean() < 0.05


def high_depth_images() -> list[Image.Image]:
    """32 px wide horizontal ramps in the grey modes that are not 8 bit."""
    ramp16 = np.tile(np.linspace(0, 65535, 32), (8, 1))
    return [
        Image.frombytes("I;16B", (32, 8), ramp16.astype(">u2").tobytes()),
        Image.frombytes("I;16L", (32, 8), ramp16.astype("<u2").tobytes()),
        Image.fromarray(ramp16.astype(np.int32)),
        Image.fromarray(np.tile(np.linspace(-5, 5, 32, dtype=np.float32), (8, 1))),
        Image.fromarray(np.tile(np.linspace(0, 1, 32, dtype=np.float32), (8, 1))),
    ]


@pytest.mark.parametrize("image", high_depth_images(), ids=lambda image: image.mode)
def test_high_depth_grey_is_scaled_to_full_range(image):
    row = images.to_model_input(image, (8, 32, 1))[0, :, 0]  # raw pixels in [0, 255]
    assert (np.diff(row) > 0).all()
    assert row[0] <= 0.01 * 255 and row[-1] >= 0.99 * 255


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # red
    decoded = images.decode_image(encode(cmyk, "JPEG", quality=95), "cmyk.jpg")
    assert decoded.mode == "RGB"
    red, green, blue = np.asarray(decoded).reshape(-1, 3).mean(axis=0)
    assert red > 215 and green < 40 and blue < 40


def test_one_bit_becomes_greyscale_zero_and_255():
    bits = Image.fromarray(np.indices((16, 16)).sum(axis=0) % 2 == 0)
    assert bits.mode == "1"
    decoded = images.decode_image(encode(bits), "bits.png")
    assert decoded.mode == "L"
    assert set(np.unique(np.asarray(decoded))) == {0, 255}


@pytest.mark.parametrize(("mode", "colour"), [("HSV", (0, 255, 255)), ("YCbCr", (76, 85, 255))])
def test_other_colour_spaces_become_rgb(mode, colour):
    values = images.to_model_input(Image.new(mode, (16, 16), colour), (16, 16, 3))
    assert np.allclose(values.reshape(-1, 3).mean(axis=0), (255, 0, 0), atol=0.02 * 255)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "lime", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    decoded = images.decode_image(data, "anim.gif")
    assert decoded.mode == "RGB"
    assert np.asarray(decoded).reshape(-1, 3).mean(axis=0).tolist() == [255, 0, 0]


def test_exif_orientation_is_applied():
    wide = Image.new("L", (40, 20), 0)
    wide.paste(255, (20, 0, 40, 20))  # left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # display needs a 90 degree clockwise turn
    decoded = images.decode_image(encode(wide, "JPEG", exif=exif.tobytes()), "phone.jpg")
    assert decoded.size == (20, 40)
    values = np.asarray(decoded).astype(float)
    assert values[:18].mean() < 30 and values[22:].mean() > 225  # left went to the top


def test_webp_with_alpha_is_composited():
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    decoded = images.decode_image(encode(rgba, "WEBP", lossless=True), "t.webp")
    assert decoded.mode == "RGB"
    assert (np.asarray(decoded) == 255).all()


# --- canvas ------------------------------------------------------------------------------


def test_canvas_to_digit_gives_an_mnist_style_raw_pixel_digit():
    digit = images.canvas_to_digit(as_canvas_payload(draw_seven((60, 50, 220, 230))))
    assert digit.shape == (28, 28, 1) and digit.dtype == np.float32
    assert digit.min() >= 0 and digit.max() <= 255
    assert digit.max() > 0.9 * 255  # full ink is 255, the scale training feeds the model
    assert 20 < (digit > images.INK_THRESHOLD).sum() < 28 * 28 / 2


def test_blank_or_faint_canvas_gives_no_digit():
    blank = as_canvas_payload(Image.new("L", (CANVAS, CANVAS), 0))
    faint = as_canvas_payload(Image.new("L", (CANVAS, CANVAS), int(images.INK_THRESHOLD) - 1))
    assert images.canvas_to_digit(blank) is None
    assert images.canvas_to_digit(faint) is None
    assert images.canvas_to_digit(as_canvas_payload(draw_seven((9, 9, 40, 40)))) is not None


def test_transparent_background_is_black_and_any_bright_colour_is_ink():
    stroke = np.asarray(draw_seven((60, 50, 220, 230))) > 0  # (H, W) where the pen went
    reference = images.canvas_to_digit(as_canvas_payload(draw_seven((60, 50, 220, 230))))
    transparent = np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8)
    transparent[..., :3] = 255  # white but fully transparent background
    transparent[stroke] = (255, 255, 255, 255)
    red = np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8)
    red[..., 3] = 255  # opaque black background
    red[stroke] = (255, 0, 0, 255)  # a red stroke is ink too
    for payload in (transparent, red):
        np.testing.assert_allclose(images.canvas_to_digit(payload), reference, atol=1e-3)
    half = transparent.copy()
    half[stroke, 3] = 128  # half-transparent white ink is grey ink
    grey_ink = images.canvas_to_digit(as_canvas_payload(draw_seven((60, 50, 220, 230), ink=128)))
    np.testing.assert_allclose(images.canvas_to_digit(half), grey_ink, atol=1e-3)
    assert grey_ink.max() < 0.7 * reference.max()


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_canvas_accepts_wider_numeric_types_in_range(dtype):
    payload = as_canvas_payload(draw_seven((60, 60, 220, 220)))
    expected = images.canvas_to_digit(payload)
    assert np.array_equal(images.canvas_to_digit(payload.astype(dtype)), expected)


def forged_payloads() -> list[object]:
    """Canvas payloads a forged request could carry."""
    good = np.zeros((10, 10, 4), dtype=np.uint8)
    with_nan, with_inf = good.astype(float), good.astype(float)
    with_nan[0, 0, 0], with_inf[0, 0, 0] = np.nan, np.inf
    return [
        None,
        good.tolist(),
        "iVBORw0KGgo=",
        np.zeros((10, 10), dtype=np.uint8),
        np.zeros((10, 10, 4, 1), dtype=np.uint8),
        np.zeros((10, 10, 2), dtype=np.uint8),
        np.zeros((10, 10, 5), dtype=np.uint8),
        np.zeros((0, 10, 4), dtype=np.uint8),
        np.zeros((images.MAX_CANVAS_SIDE + 1, 4, 4), dtype=np.uint8),
        good.astype(object),
        good.astype(bool),
        good.astype(complex),
        good.astype("U1"),
        with_nan,
        with_inf,
        good.astype(np.int16) - 1,
        good.astype(np.int16) + 256,
        good.astype(float) + 255.5,
    ]


@pytest.mark.parametrize("payload", forged_payloads())
def test_forged_canvas_payloads_are_rejected(payload):
    with pytest.raises(UserError, match=r"^canvas: [^\n]+$"):
        images.canvas_to_digit(payload)


# --- center_digit ------------------------------------------------------------------------


def ink_map(grey: Image.Image) -> np.ndarray:
    """A white-on-black drawing as an ink map: float32 (H, W) in [0, 255]."""
    return np.asarray(grey, dtype=np.float32)


def centred(grey: Image.Image) -> np.ndarray:
    """Canvas drawing -> (28, 28) in [0, 255] through the real canvas path."""
    return images.canvas_to_digit(as_canvas_payload(grey))[..., 0]


def test_center_digit_needs_ink():
    for ink in (np.zeros((CANVAS, CANVAS)), np.full((CANVAS, CANVAS), images.INK_THRESHOLD - 1)):
        with pytest.raises(UserError, match=images.NOTHING_DRAWN):
            images.center_digit(ink)
    with pytest.raises(ValueError, match="2-D"):
        images.center_digit(np.zeros((28, 28, 1)))


def test_small_corner_digit_matches_large_centre_digit():
    large = draw_seven((60, 50, 220, 230))
    small = draw_seven((8, 10, 68, 77))  # about 3 x smaller, top-left corner
    difference = np.abs(centred(large) - centred(small)).mean()
    naive_difference = np.abs(naive_28(large) - naive_28(small)).mean()
    assert difference < 0.05 * 255
    assert difference < naive_difference / 3


def test_centred_digit_has_mnist_geometry():
    digit = images.center_digit(ink_map(draw_seven((180, 170, 270, 275))))  # bottom-right
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0 and digit.max() <= 255 and digit.max() > 0.9 * 255
    row, col = centre_of_mass(digit)
    assert abs(row - images.DIGIT_CENTRE) <= 1 and abs(col - images.DIGIT_CENTRE) <= 1
    rows, cols = np.nonzero(digit > images.INK_THRESHOLD)
    longer = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    assert images.DIGIT_BOX - 1 <= longer <= images.DIGIT_BOX + 1


def test_center_digit_ignores_faint_noise():
    rng = np.random.default_rng(RNG_SEED)
    clean = ink_map(draw_seven((60, 50, 220, 230)))
    noise = rng.uniform(0, 0.9 * images.INK_THRESHOLD, clean.shape).astype(np.float32)
    noisy = clean + noise * (clean == 0)
    assert np.abs(images.center_digit(noisy) - images.center_digit(clean)).max() < 1e-3


# --- to_digit_input and to_model_input ---------------------------------------------------


def photo(ink: int, paper: int) -> Image.Image:
    """A 7 on paper, as an RGB photo decoded from JPEG (so with compression noise)."""
    grey = draw_seven((50, 40, 170, 200), ink=ink, paper=paper).crop((0, 0, 220, 240))
    return images.decode_image(encode(grey.convert("RGB"), "JPEG", quality=90), "photo.jpg")


def test_light_background_photo_is_inverted():
    dark_on_light = images.to_digit_input(photo(ink=30, paper=225))
    light_on_dark = images.to_digit_input(photo(ink=255, paper=0))
    assert dark_on_light.shape == (28, 28) and dark_on_light.dtype == np.float32
    assert dark_on_light[0].max() == 0 and dark_on_light[:, 0].max() == 0  # background black
    assert dark_on_light.max() > 0.9 * 255  # raw pixels in [0, 255]
    assert np.abs(dark_on_light - light_on_dark).mean() < 0.05 * 255


def test_uniform_photo_has_no_digit():
    with pytest.raises(UserError, match="no digit"):
        images.to_digit_input(Image.new("RGB", (50, 50), (240, 240, 240)))


def test_model_input_for_mnist_shape_is_the_digit_recipe():
    source = photo(ink=30, paper=225)
    values = images.to_model_input(source, (28, 28, 1))
    assert values.shape == (28, 28, 1) and values.dtype == np.float32
    assert np.array_equal(values[..., 0], images.to_digit_input(source))


@pytest.mark.parametrize(("shape", "expected"), [((32, 32, 3), (255, 0, 0)), ((24, 40, 1), (76,))])
def test_model_input_resizes_to_shape_and_channels(shape, expected):
    values = images.to_model_input(Image.new("RGB", (300, 200), (255, 0, 0)), shape)
    assert values.shape == shape and values.dtype == np.float32  # raw pixels, not [0, 1]
    assert np.allclose(values.reshape(-1, shape[2]).mean(axis=0), expected, atol=1)


@pytest.mark.parametrize("shape", [(32, 32, 2), (32, 32, 4), (None, None, 3), (0, 32, 3), (32, 32)])
def test_model_input_rejects_unsupported_shapes(shape):
    with pytest.raises(ValueError, match="model input shape"):
        images.to_model_input(Image.new("RGB", (32, 32)), shape)


def test_images_module_imports_neither_tensorflow_nor_streamlit():
    code = (
        "import sys, cnn_core.data.images; "
        "assert not {'tensorflow', 'streamlit', 'keras'} & set(sys.modules), sorted(sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-500:]


def test_upload_suffixes_are_exactly_the_allowed_formats() -> None:
    """The file uploaders offer these endings: each must decode, and each format be offered."""
    registered = Image.registered_extensions()  # ".jpg" -> "JPEG", ...
    offered = {registered[f".{suffix}"] for suffix in images.UPLOAD_SUFFIXES}
    assert offered == set(images.ALLOWED_FORMATS)
