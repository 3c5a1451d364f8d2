"""What each output format can hold (size, bit depth, alpha, pages, frames, metadata), and
the checks and adaptations that fit an image to the format its path names."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import features

from superres.errors import SuperresError
from superres.io.image import ImageData, to_uint8

FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".avif": "AVIF",
    ".jp2": "JPEG2000",  # JPEG 2000 in its JP2 file format (satellite, medical)
    ".j2k": "JPEG2000",  # a bare JPEG 2000 codestream
    ".heic": "HEIF",  # phone photos, with the optional pillow-heif
    ".heif": "HEIF",
    ".tga": "TGA",  # Targa: game textures, often with alpha
    ".ppm": "PPM",  # Netpbm: colour (P6), 8 or 16 bits
    ".pgm": "PPM",  # Netpbm: gray (P5), 8 or 16 bits
    ".pnm": "PPM",  # Netpbm: either, by the image
    ".dcm": "DICOM",  # medical (io.dicom), with the optional pydicom
    ".nii": "NIFTI",  # medical volumes (io.nifti), with the optional nibabel
    ".nii.gz": "NIFTI",
}
IMAGE_SUFFIXES = frozenset(FORMATS)  # what superres reads and writes
MAX_SIDE = {"WEBP": 16383, "JPEG": 65500, "GIF": 65535}  # the encoders' largest width or height
DEEP_FORMATS = ("PNG", "TIFF", "JPEG2000", "PPM", "HEIF")  # formats that hold more than 8 bits
HEIF_BITS = 10  # what HEIC output holds of a deeper result (pillow-heif's default, HDR cameras')
ALPHA_FORMATS = ("PNG", "TIFF", "JPEG2000", "WEBP", "AVIF", "HEIF", "TGA", "GIF", "BMP")
ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")  # animations superres reads and writes (PNG: APNG)
# The metadata each format carries as superres writes it (TIFF: see write_tiff.warn_if_exif_dropped).
CARRIED_METADATA = {
    "PNG": {"EXIF", "XMP", "ICC profile", "DPI"},
    "JPEG": {"EXIF", "XMP", "ICC profile", "DPI"},
    "TIFF": {"EXIF", "XMP", "ICC profile", "DPI"},
    "WEBP": {"EXIF", "XMP", "ICC profile"},
    "AVIF": {"EXIF", "XMP", "ICC profile"},
    "HEIF": {"EXIF", "XMP", "ICC profile"},
    "GIF": set(),
    "BMP": {"DPI"},
    "JPEG2000": set(),
    "TGA": set(),
    "PPM": set(),
    "DICOM": set(),  # its own header, rescaled (io.dicom)
    "NIFTI": set(),  # its own header, rescaled (io.nifti)
}
MEDICAL_FORMATS = {"DICOM": "DICOM", "NIFTI": "NIfTI"}  # written only from an input of the same format
_SCREEN_FORMATS = ("GIF", "WEBP", "AVIF", "HEIF")  # a DPI means nothing there: its loss is not told
# The largest DPI each format's encoder stores: PNG's pHYs and BMP's header in pixels per metre
# (BMP's signed), JPEG's JFIF density in 16 bits; TIFF's rationals hold 32 bits in any unit.
_MAX_DPI = {"PNG": 0xFFFFFFFF * 0.0254, "BMP": 0x7FFFFFFF / 39.3701, "JPEG": 65535.0}
_MAX_TIFF_RESOLUTION = float(0xFFFFFFFF)
_SHOWN_NAMES = {"WEBP": "WebP", "JPEG2000": "JPEG 2000", "PPM": "Netpbm (PPM/PGM)", "NIFTI": "NIfTI"}


def format_suffix(path: str | Path) -> str:
    """The extension that names ``path``'s format, lower case: ``.nii.gz`` for a gzipped
    NIfTI, else the last suffix."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def register_heif(path: Path) -> None:
    """Let Pillow open and save HEIC / HEIF (pillow-heif's plugin; it applies the file's
    rotation when reading)."""
    try:
        import pillow_heif
    except ImportError:
        raise SuperresError(
            "HEIC/HEIF needs the pillow-heif package: pip install 'superres[heif]'", path
        ) from None
    pillow_heif.register_heif_opener()


def output_format(path: str | Path) -> str:
    """The format (a ``FORMATS`` value) that ``path``'s extension names, when this Pillow
    can write it."""
    try:
        fmt = FORMATS[format_suffix(path)]
    except KeyError:
        raise SuperresError(
            f"unknown output extension; use one of {', '.join(sorted(set(FORMATS)))}", path
        ) from None
    if fmt == "AVIF" and not features.check("avif"):
        raise SuperresError("this Pillow cannot write AVIF (it was built without libavif)", path)
    if fmt == "HEIF":
        register_heif(Path(path))
    return fmt


def check_fits_format(path: str | Path, height: int, width: int, source: str | Path | None = None) -> None:
    """Refuse (SuperresError, naming ``source`` if given, else ``path``) a height x width
    result the format at ``path`` cannot encode, so a batch learns it before the upscale."""
    fmt = output_format(path)
    limit = MAX_SIDE.get(fmt)
    if limit is not None and max(height, width) > limit:
        name = _SHOWN_NAMES.get(fmt, fmt)
        raise SuperresError(
            f"the result would be {width}x{height} pixels; {name} holds at most {limit} a side "
            "(write .png or .tif instead)",
            source if source is not None else path,
        )


def without_png_text(image: ImageData, fmt: str, path: Path) -> ImageData:
    """``image`` for ``fmt``: a PNG's text chunks are said to be dropped outside PNG."""
    if not image.png_text or fmt == "PNG":
        return image
    names = ", ".join(sorted(image.png_text))
    message = f"{path}: the input's PNG text ({names}) is not carried into {fmt} (PNG keeps it)"
    warnings.warn(message, stacklevel=4)
    return replace(image, png_text=None)


def check_format_holds(path: str | Path, image: ImageData, source: str | Path | None = None) -> None:
    """Refuse (SuperresError, naming ``source`` if given, else ``path``) an image the format
    at ``path`` cannot hold at all: pages, frames, sample type, inks or bands. An upscale
    keeps all of these, so a batch checks its input before the upscale."""
    fmt = output_format(path)
    problem = None
    if fmt in MEDICAL_FORMATS:
        if image.source_format != fmt or image.medical is None:
            name = MEDICAL_FORMATS[fmt]
            raise SuperresError(
                f"{name} output needs a {name} input (whose header it carries)", source or path
            )
        return
    if fmt == "TIFF":
        return
    if image.medical is not None and image.source_format in MEDICAL_FORMATS:
        name = MEDICAL_FORMATS[image.source_format]
        suffix = ".dcm" if image.source_format == "DICOM" else ".nii or .nii.gz"
        problem = f"a {name} image can only be written as {name} ({suffix}) or TIFF (.tif)"
    elif image.animation is not None and fmt not in ANIMATED_FORMATS:
        frames = len(image.animation.durations)
        problem = f"an animation of {frames} frames can only be written as GIF, WebP, PNG (APNG) or TIFF"
    elif image.stack is not None and image.animation is None:
        problem = f"a stack of {image.stack.pages} pages can only be written as TIFF (.tif)"
    elif image.pixels.dtype not in (np.uint8, np.uint16):
        problem = f"{image.pixels.dtype} samples can only be written as TIFF (.tif)"
    elif image.cmyk:
        problem = "a CMYK image can only be written as TIFF (.tif)"
    elif image.color_channels not in (1, 3):
        problem = f"a {image.page_bands}-band image can only be written as TIFF (.tif)"
    if problem is not None:
        raise SuperresError(problem, source if source is not None else path)


def adapt_for_format(image: ImageData, fmt: str, path: Path) -> ImageData:
    """Make ``image`` storable as ``fmt``: warn when depth, alpha or metadata must be given
    up, refuse (SuperresError) what the format cannot hold at all."""
    check_format_holds(path, image)
    pixels = image.pixels
    if fmt in MEDICAL_FORMATS:
        return image
    image = _without_unholdable_dpi(without_png_text(image, fmt, path), fmt, path)
    if image.medical is not None:
        what = MEDICAL_FORMATS.get(image.source_format or "", "medical")
        message = f"{path}: {fmt} cannot hold the input's {what} header (geometry); it is dropped"
        warnings.warn(message, stacklevel=3)
        image = replace(image, medical=None)
    if fmt == "TIFF":
        if image.animation is not None:
            warnings.warn(f"{path}: TIFF keeps the frames as pages but not their timing", stacklevel=3)
        return image
    if image.geo is not None:
        warnings.warn(f"{path}: {fmt} cannot hold the input's georeferencing; it is dropped", stacklevel=3)
        image = replace(image, geo=None)
    if image.ome_xml is not None:
        warnings.warn(f"{path}: {fmt} cannot hold the input's OME-XML metadata; it is dropped", stacklevel=3)
        image = replace(image, ome_xml=None)
    if pixels.dtype == np.uint16 and fmt not in DEEP_FORMATS:
        warnings.warn(
            f"{path}: {fmt} holds 8 bits per sample; the 16-bit result is reduced to 8 bits", stacklevel=3
        )
        image = replace(image, pixels=to_uint8(pixels))
    if pixels.dtype == np.uint16 and fmt == "HEIF" and image.source_format != "HEIF":
        message = f"{path}: HEIC is written with {HEIF_BITS} bits per sample; the 16-bit result is reduced"
        warnings.warn(message, stacklevel=3)
    if image.has_alpha and fmt not in ALPHA_FORMATS:
        name = _SHOWN_NAMES.get(fmt, fmt)
        warnings.warn(f"{path}: {name} has no alpha channel; the alpha channel is dropped", stacklevel=3)
        image = replace(image, pixels=image.pixels[:, :, :-1], has_alpha=False)
    _warn_if_metadata_dropped(path, image, fmt)
    return image


def _without_unholdable_dpi(image: ImageData, fmt: str, path: Path) -> ImageData:
    """``image`` without its resolution where ``fmt`` cannot store it (past the format's
    range, or not finite), said in a warning: the encoders would overflow or wrap it."""
    res = image.resolution
    if res is None or (fmt != "TIFF" and fmt not in _MAX_DPI):
        return image
    values = (res.x, res.y) if fmt == "TIFF" else image.dpi
    limit = _MAX_TIFF_RESOLUTION if fmt == "TIFF" else _MAX_DPI[fmt]
    if values is None or all(math.isfinite(v) and 0 < v <= limit for v in values):
        return image
    kind = "DPI" if res.unit == "inch" or fmt != "TIFF" else f"resolution (pixels per {res.unit})"
    name = _SHOWN_NAMES.get(fmt, fmt)
    message = f"{path}: the {kind} ({values[0]:g} x {values[1]:g}) is more than {name} holds; it is dropped"
    warnings.warn(message, stacklevel=4)
    return replace(image, resolution=None)


def _warn_if_metadata_dropped(path: Path, image: ImageData, fmt: str) -> None:
    held = {"EXIF": image.exif, "XMP": image.xmp, "ICC profile": image.icc_profile, "DPI": image.dpi}
    if fmt in _SCREEN_FORMATS:
        del held["DPI"]
    dropped = [name for name, value in held.items() if value and name not in CARRIED_METADATA[fmt]]
    if dropped:
        name = _SHOWN_NAMES.get(fmt, fmt)
        listed = ", ".join(dropped[:-1]) + (" or " if len(dropped) > 1 else "") + dropped[-1]
        warnings.warn(f"{path}: {name} output does not carry the input's {listed}", stacklevel=4)
