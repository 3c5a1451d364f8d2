"""Images Pillow decodes (PNG, JPEG, WebP, GIF, BMP, TGA, Netpbm, AVIF, HEIC), animations
among them, with their ICC profile, EXIF (orientation applied), XMP, DPI and PNG text."""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from superres.io import exif_in_place
from superres.io.formats import ANIMATED_FORMATS
from superres.io.image import (
    Animation,
    ImageData,
    Resolution,
    TiffStack,
    checked_orientation,
    orient,
    oriented,
)
from superres.io.limits import check_size, open_with_pillow
from superres.io.metadata import EXIF_ERRORS, ORIENTATION_TAG, PNG_XMP_KEY, xmp_with_orientation_reset
from superres.io.read_deep import deep_heif_or_avif_pixels, png16_pixels, png_is_16bit_color, ppm16_pixels


def read_pillow(path: Path, max_pixels: int) -> ImageData:
    """``path`` decoded by Pillow, at its full depth where Pillow would reduce it; warnings
    name the caller of read_image."""
    with open_with_pillow(path) as im:
        check_size(im.width, im.height, max_pixels, path)
        frames = getattr(im, "n_frames", 1)
        if frames > 1 and im.format in ANIMATED_FORMATS:
            check_size(im.width, im.height, max_pixels, path, frames)
            return _read_animation(im, frames)
        if frames > 1:  # e.g. an MPO photo's second (depth or stereo) image
            warnings.warn(f"{path}: holds {frames} images; only the first is upscaled", stacklevel=3)
        if im.format == "PNG" and png_is_16bit_color(path):
            pixels = png16_pixels(path)
            return _with_pillow_metadata(im, pixels, pixels.shape[2] in (2, 4), True)
        if im.format == "PPM" and im.mode == "RGB" and (pixels := ppm16_pixels(path)) is not None:
            return _with_pillow_metadata(im, pixels, False, True)
        if im.format in ("HEIF", "AVIF") and (pixels := deep_heif_or_avif_pixels(path, im)) is not None:
            return _with_pillow_metadata(im, pixels, pixels.shape[2] in (2, 4), True)
        return from_pil(im)


def jpeg_quality(path: str | Path) -> int | None:
    """The IJG quality (1-100) a JPEG file was most likely saved at, from its luminance
    quantisation table (the median ratio to the standard table, which quality scales); None
    for other files. Reads only the header. Cameras with tables of their own get the IJG
    quality nearest to theirs."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\xff\xd8":  # not a JPEG (a DICOM's preamble may look like a TIFF)
                return None
        with open_with_pillow(Path(path)) as im:
            tables = getattr(im, "quantization", None) if im.format == "JPEG" else None
            table = tables.get(0) if tables else None
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    if table is None or len(table) != 64:
        return None
    if max(table) == 1:  # every step 1: quality 100 (99 still has some 2s)
        return 100
    ratio = float(np.median(100 * np.asarray(table, np.float64) / _ijg_luma_table()))
    quality = 5000 / ratio if ratio > 100 else (200 - ratio) / 2
    return int(np.clip(round(quality), 1, 100))


@functools.cache
def _ijg_luma_table() -> np.ndarray:
    """The standard luminance table (Annex K), in the order Pillow reports tables: the table
    of quality 50, which is the standard one unscaled."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="JPEG", quality=50)
    with Image.open(buffer) as im:
        return np.asarray(im.quantization[0], np.float64)


def _read_animation(im: Image.Image, frames: int) -> ImageData:
    """Every frame as Pillow composites it (disposal and blending applied), RGB or RGBA
    (RGBA when any frame has a transparent pixel), with its duration and the loop count."""
    pixels, durations = [], []
    for index in range(frames):
        im.seek(index)
        im.load()
        pixels.append(np.asarray(im.convert("RGBA")))
        durations.append(round(float(im.info.get("duration") or 0)))
    has_alpha = any(bool((frame[:, :, 3] < 255).any()) for frame in pixels)
    stacked = np.concatenate(pixels if has_alpha else [frame[:, :, :3] for frame in pixels], axis=2)
    del pixels
    loop = im.info.get("loop")  # a GIF without the NETSCAPE extension has none: it plays once
    im.seek(0)
    image = _with_pillow_metadata(im, stacked, has_alpha, True)
    animation = Animation(tuple(durations), None if loop is None else int(loop))
    return replace(image, stack=TiffStack("T", (frames,)), animation=animation)


def from_pil(im: Image.Image) -> ImageData:
    """ImageData from a Pillow image (decoded now; orientation applied, metadata kept)."""
    pixels, has_alpha, keep_icc = _pillow_pixels(im)
    return _with_pillow_metadata(im, pixels, has_alpha, keep_icc)


def _with_pillow_metadata(im: Image.Image, pixels: np.ndarray, has_alpha: bool, keep_icc: bool) -> ImageData:
    """Attach ICC/EXIF from ``im``, apply its EXIF orientation and reset that tag."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    name = getattr(im, "filename", None) or "image"
    exif = im.getexif()
    orientation = checked_orientation(exif[ORIENTATION_TAG], name) if ORIENTATION_TAG in exif else 1
    pixels = orient(pixels, orientation)
    exif_bytes = None
    if len(exif):  # the orientation reset in the file's own bytes (a MakerNote stays valid)
        raw = im.info.get("exif")
        reset = {ORIENTATION_TAG: 1} if ORIENTATION_TAG in exif else {}
        exif_bytes = exif_in_place.patched(raw, reset) if isinstance(raw, bytes) else None
        if exif_bytes is None:
            exif[ORIENTATION_TAG] = 1
            exif_bytes = _exif_bytes(exif, name)
    icc = im.info.get("icc_profile") if keep_icc else None
    dpi = im.info.get("dpi")
    resolution = Resolution(float(dpi[0]), float(dpi[1])) if dpi and min(dpi) > 0 else None
    resolution = oriented(resolution, orientation)
    xmp = im.info.get("xmp") or None
    xmp = xmp.encode("utf-8") if isinstance(xmp, str) else xmp
    xmp = xmp_with_orientation_reset(xmp) if xmp else None
    text = (
        {k: v for k, v in getattr(im, "text", {}).items() if k != PNG_XMP_KEY} if im.format == "PNG" else {}
    )
    return ImageData(
        pixels, has_alpha, icc, exif_bytes, im.format, resolution=resolution, xmp=xmp, png_text=text or None
    )


def _exif_bytes(exif: Image.Exif, name: str) -> bytes | None:
    """EXIF as bytes to carry, or None (said in a warning) where a malformed tag stops Pillow
    from encoding it again."""
    try:
        return exif.tobytes()
    except EXIF_ERRORS as exc:
        warnings.warn(f"{name}: its EXIF cannot be carried over ({exc}); it is dropped", stacklevel=5)
        return None


def _pillow_pixels(im: Image.Image) -> tuple[np.ndarray, bool, bool]:
    """(H x W [x C] array, has_alpha, whether the ICC profile still applies)."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "CMYK":
        # A CMYK ICC profile does not describe the RGB result, so it is dropped.
        return np.asarray(im.convert("RGB")), False, False
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), False, True
    elif mode == "I":
        pixels = np.asarray(im)
        if pixels.min() >= 0 and pixels.max() <= 65535:
            pixels = pixels.astype(np.uint16)  # 16-bit PNG/TIFF gray as older Pillow reads it
        return pixels, False, True
    pixels = np.asarray(im)
    return pixels, im.mode in ("RGBA", "LA"), True
