"""EXIF, XMP, ICC and resolution metadata: the tags that hold them, reading them from a
TIFF, updating them for a resized image, and the PNG chunks that carry them."""

from __future__ import annotations

import math
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

from superres.io import exif_in_place
from superres.io.image import ImageData, Resolution

ORIENTATION_TAG = 0x0112
ICC_TAG = 34675
XMP_TAG = 700  # TIFF's XMP packet
PNG_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt keyword PNG stores XMP under
TIFF_UNITS = {1: "none", 2: "inch", 3: "centimeter"}
_EXIF_X_RESOLUTION, _EXIF_Y_RESOLUTION, _EXIF_RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005  # camera settings, GPS, interoperability
_EXIF_SUB_IFDS = (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD)
_EXIF_PIXEL_X, _EXIF_PIXEL_Y = 0xA002, 0xA003  # in the Exif IFD
EXIF_ERRORS = (OSError, ValueError, SyntaxError, struct.error, KeyError, TypeError)  # Pillow's parser
# A TIFF's own tags that are the image's EXIF too: make, model, date, artist, copyright. Not
# its structure (size, strips, samples...), nor ImageDescription (tifffile, ImageJ and OME keep
# their own metadata there) or Software (the program that wrote that file).
_TIFF_EXIF_TAGS = (0x010F, 0x0110, 0x0132, 0x013B, 0x8298)


def exif_with_resolution(exif: bytes, resolution: Resolution) -> bytes:
    """EXIF bytes whose resolution tags, where present, say ``resolution`` (so they agree
    with the DPI the file format itself records)."""
    dpi = resolution.dpi()
    values = {_EXIF_X_RESOLUTION: dpi[0], _EXIF_Y_RESOLUTION: dpi[1], _EXIF_RESOLUTION_UNIT: 2} if dpi else {}
    in_place = values and exif_in_place.patched(exif, values)
    if in_place:
        return in_place
    parsed = Image.Exif()
    parsed.load(exif)
    if dpi is None or _EXIF_X_RESOLUTION not in parsed:
        return exif
    parsed[_EXIF_X_RESOLUTION], parsed[_EXIF_Y_RESOLUTION] = dpi
    parsed[_EXIF_RESOLUTION_UNIT] = 2  # inches
    return parsed.tobytes()


def _parsed_exif(exif: bytes) -> Image.Exif | None:
    """EXIF bytes parsed by Pillow, or None where its parser fails on them."""
    parsed = Image.Exif()
    try:
        parsed.load(exif)
    except EXIF_ERRORS:
        return None
    return parsed


def exif_with_size(exif: bytes, width: int, height: int) -> bytes:
    """EXIF bytes whose pixel dimensions (Exif IFD PixelXDimension / PixelYDimension), where
    present, say width x height: cameras record the size they wrote."""
    in_place = exif_in_place.patched(exif, {}, {_EXIF_PIXEL_X: width, _EXIF_PIXEL_Y: height})
    if in_place:
        return in_place
    parsed = _parsed_exif(exif)
    try:
        camera = parsed.get_ifd(_EXIF_IFD) if parsed is not None and _EXIF_IFD in parsed else {}
    except EXIF_ERRORS:
        camera = {}
    if _EXIF_PIXEL_X not in camera and _EXIF_PIXEL_Y not in camera:
        return exif  # none recorded, or an Exif IFD Pillow cannot parse: carried as it is
    camera[_EXIF_PIXEL_X], camera[_EXIF_PIXEL_Y] = width, height
    return parsed.tobytes()


def xmp_with_size(xmp: bytes, width: int, height: int, dpi: tuple[float, float] | None) -> bytes:
    """An XMP packet whose image size (tiff:ImageWidth / ImageLength, exif:PixelX/YDimension)
    and, given ``dpi``, tiff:X/YResolution say the new ones, as attributes or elements."""
    values = {"tiff:ImageWidth": width, "tiff:ImageLength": height}
    values |= {"exif:PixelXDimension": width, "exif:PixelYDimension": height}
    if dpi is not None:
        values |= {"tiff:XResolution": f"{round(dpi[0] * 10000)}/10000"}
        values |= {"tiff:YResolution": f"{round(dpi[1] * 10000)}/10000"}
    text = xmp.decode("utf-8", errors="surrogateescape")
    for name, value in values.items():
        text = re.sub(rf'({re.escape(name)}\s*=\s*")[^"]*(")', rf"\g<1>{value}\g<2>", text)
        text = re.sub(rf"(<{re.escape(name)}>)[^<]*(</{re.escape(name)}>)", rf"\g<1>{value}\g<2>", text)
    return text.encode("utf-8", errors="surrogateescape")


def xmp_with_orientation_reset(xmp: bytes) -> bytes:
    """An XMP packet whose tiff:Orientation, where present, says 1: superres applies the
    orientation to the pixels, and a viewer that honours XMP must not apply it again."""
    text = xmp.decode("utf-8", errors="surrogateescape")
    text = re.sub(r'(tiff:Orientation\s*=\s*")[^"]*(")', r"\g<1>1\g<2>", text)
    text = re.sub(r"(<tiff:Orientation>)[^<]*(</tiff:Orientation>)", r"\g<1>1\g<2>", text)
    return text.encode("utf-8", errors="surrogateescape")


def tiff_exif(path: Path) -> bytes | None:
    """A TIFF's EXIF as EXIF bytes: its descriptive tags (make, model, date, ...) and its Exif
    and GPS sub-IFDs; None if it has none or they cannot be parsed. Read from the first IFD
    with Pillow's EXIF parser, not Image.open (no pixel-count checks: read_image made them)."""
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bare "Truncated File Read": the EXIF is left out
            source = Image.Exif()
            source.load_from_fp(f)
            exif = Image.Exif()
            for tag in _TIFF_EXIF_TAGS:
                if tag in source:
                    exif[tag] = source[tag]
            found = False
            for tag in (_EXIF_IFD, _GPS_IFD):  # (Interoperability sits inside Exif)
                if source.get_ifd(tag):
                    exif.get_ifd(tag).update(source.get_ifd(tag))
                    found = True
    except EXIF_ERRORS:
        return None
    return exif.tobytes() if len(exif) or found else None


def has_exif_sub_ifds(exif: bytes) -> bool:
    """Whether EXIF holds camera settings, GPS or interoperability sub-IFDs (which libtiff
    through Pillow refuses to compress and tifffile cannot write)."""
    parsed = _parsed_exif(exif)
    return parsed is None or any(tag in parsed for tag in _EXIF_SUB_IFDS)


def exif_descriptive_tags(exif: bytes) -> dict[int, str]:
    """The EXIF tags a TIFF holds in its own IFD (``_TIFF_EXIF_TAGS``) with ASCII values."""
    parsed = _parsed_exif(exif)
    if parsed is None:
        return {}
    values = {tag: parsed.get(tag) for tag in _TIFF_EXIF_TAGS}
    ascii_values = {tag: v.rstrip("\x00 ") for tag, v in values.items() if isinstance(v, str) and v.isascii()}
    return {tag: v for tag, v in ascii_values.items() if v}


def tiff_resolution(tif: Any, page: Any, path: Path) -> Resolution | None:
    """From the resolution tags, with ImageJ's unit and slice spacing when it wrote the file
    (a spacing that is not a positive number is left out, said in a warning)."""
    if 282 not in page.tags or 283 not in page.tags:
        return None
    x, y = (float(v) for v in page.resolution)
    if x <= 0 or y <= 0:
        return None
    unit = TIFF_UNITS.get(int(page.resolutionunit), "none")
    imagej = tif.imagej_metadata or {}
    spacing = imagej.get("spacing")
    if imagej.get("unit"):
        unit = str(imagej["unit"])
    return Resolution(x, y, unit, _imagej_spacing(spacing, path) if spacing else None)


def _imagej_spacing(spacing: Any, path: Path) -> float | None:
    try:
        value = float(spacing)
    except (TypeError, ValueError):
        value = math.nan
    if math.isfinite(value) and value > 0:
        return value
    shown = repr(spacing) if isinstance(spacing, str) else str(spacing)
    message = f"{path}: its ImageJ slice spacing ({shown[:40]}) is not a number; it is ignored"
    warnings.warn(message, stacklevel=5)
    return None


def tiff_resolution_options(image: ImageData) -> dict:
    """tifffile.imwrite arguments for the resolution tags."""
    res = image.resolution
    if res is None:
        return {}
    units = {name: code for code, name in TIFF_UNITS.items()}
    return {"resolution": (res.x, res.y), "resolutionunit": units.get(res.unit, 1)}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_texts(image: ImageData) -> list[tuple[str, str]]:
    """(keyword, text) of the PNG text chunks to write: the input's, then the XMP packet."""
    texts = list((image.png_text or {}).items())
    if image.xmp:
        texts.append((PNG_XMP_KEY, image.xmp.decode("utf-8", errors="replace")))
    return texts


def png_metadata_chunks(image: ImageData) -> bytes:
    """The chunks that carry ``image``'s ICC profile, EXIF, DPI, text and XMP."""
    extra = b""
    if image.icc_profile:
        extra += png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(image.icc_profile))
    if image.exif:
        exif = image.exif[6:] if image.exif.startswith(b"Exif\x00\x00") else image.exif
        extra += png_chunk(b"eXIf", exif)
    if image.dpi:  # pixels per metre, unit 1 (metre)
        x, y = (round(d / 0.0254) for d in image.dpi)
        extra += png_chunk(b"pHYs", struct.pack(">IIB", x, y, 1))
    for keyword, text in png_texts(image):  # iTXt: UTF-8, uncompressed, no language
        extra += png_chunk(
            b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
        )
    return extra
