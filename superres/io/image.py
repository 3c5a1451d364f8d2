"""The decoded image and what travels with it: pixels as an H x W x C array, the stack or
animation its pages form, its resolution, and the metadata to carry to the output."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from superres.io.geotiff import GeoTags


@dataclass(frozen=True)
class Resolution:
    """Pixels per unit along x and y: a file's DPI, its TIFF resolution tags, or ImageJ's
    calibration (``unit`` then names ImageJ's unit, "um" say). Upscaling multiplies it, so
    the result still covers the same physical (or microscope) extent."""

    x: float
    y: float
    unit: str = "inch"  # inch, centimeter, none (a TIFF without unit), or an ImageJ unit
    z_spacing: float | None = None  # ImageJ's slice spacing, which upscaling leaves alone

    def dpi(self) -> tuple[float, float] | None:
        per_inch = {"inch": 1.0, "centimeter": 2.54}.get(self.unit)
        return (self.x * per_inch, self.y * per_inch) if per_inch else None


@dataclass(frozen=True)
class TiffStack:
    """The axes of a multi-page TIFF beyond one page's Y, X and samples (tifffile's letters:
    Q pages, Z slices, T times, C channels, ...), outermost first."""

    axes: str
    shape: tuple[int, ...]
    imagej: bool = False  # an ImageJ hyperstack, written back as one

    @property
    def pages(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Animation:
    """The timing of an animated image's frames (the frames are the pages of its stack)."""

    durations: tuple[int, ...]  # milliseconds each frame shows
    loop: int | None = 0  # times to play: 0 forever; None once, with no loop count stored (GIF)


@dataclass(frozen=True)
class ImageData:
    """Decoded pixels plus the metadata to carry to the output."""

    pixels: np.ndarray  # H x W x C; orientation already applied
    has_alpha: bool = False  # the last channel (of each page) is alpha
    icc_profile: bytes | None = None
    exif: bytes | None = None  # orientation reset to 1
    source_format: str | None = None
    stack: TiffStack | None = None  # several pages, one after another along C
    cmyk: bool = False  # a TIFF's ink planes (photometric "separated"), written back as such
    geo: GeoTags | None = None  # GeoTIFF georeferencing and GDAL no-data, rescaled on writing
    resolution: Resolution | None = None  # of these pixels (upscaling rescales it)
    ome_xml: str | None = None  # a one-image OME-TIFF's metadata (upscaling rescales it)
    xmp: bytes | None = None  # XMP packet (keywords, ratings, captions, rights), sizes updated
    png_text: dict[str, str] | None = None  # a PNG's text chunks besides XMP (e.g. "parameters")
    animation: Animation | None = None  # an animated GIF / WebP / PNG: its frames are the stack's pages
    medical: object | None = None  # a DICOM / NIfTI input's header (io.dicom, io.nifti)
    pyramid: str | None = None  # a TIFF input's "overviews" or "cog", rebuilt in a TIFF result (io.cog)

    @property
    def nodata(self) -> float | None:
        return self.geo.nodata if self.geo else None

    @property
    def dpi(self) -> tuple[float, float] | None:
        """Pixels per inch, when the resolution has a physical unit."""
        return self.resolution.dpi() if self.resolution else None

    @property
    def color_channels(self) -> int:
        return self.page_bands - int(self.has_alpha)

    @property
    def page_bands(self) -> int:
        return self.pixels.shape[2] // (self.stack.pages if self.stack else 1)

    def page(self, index: int) -> ImageData:
        """One page of a stack as an image of its own (the image itself if not a stack)."""
        if self.stack is None:
            return self
        bands = self.page_bands
        pixels = self.pixels[:, :, index * bands : (index + 1) * bands]
        return replace(self, pixels=pixels, stack=None, animation=None)


def checked_orientation(value: object, path: object) -> int:
    """An EXIF/TIFF orientation tag's value when it is one of 1..8; anything else (a rational
    like 6/0, text, several values, 99) is 1, the image as stored, said in a warning."""
    try:
        number = float(value)  # an int, a numpy number or a rational; text and tuples fail
    except (TypeError, ValueError, ZeroDivisionError):
        number = math.nan
    if number in range(1, 9):
        return int(number)
    shown = _shown_tag_value(value)
    message = f"{path}: its orientation tag ({shown[:40]}) is not one of 1-8; it is ignored"
    warnings.warn(message, stacklevel=4)
    return 1


def _shown_tag_value(value: object) -> str:
    """A tag value as a message shows it: 6/0 for a rational, 3, 3 for several values."""
    if isinstance(value, str):
        return repr(value)
    if hasattr(value, "denominator") and not isinstance(value, int):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(int(v)) if isinstance(v, int) else str(v) for v in value)
    return str(value)


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF/TIFF orientation (1..8) to an H x W x C array."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 1)[::-1, :],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels


def oriented(resolution: Resolution | None, orientation: int) -> Resolution | None:
    """The resolution of pixels turned by an EXIF/TIFF orientation: x and y swap on a quarter turn."""
    if resolution is None or orientation not in (5, 6, 7, 8):
        return resolution
    return replace(resolution, x=resolution.y, y=resolution.x)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """16-bit samples rounded to 8 bits; any other samples as they are."""
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return pixels


def to_pil(image: ImageData) -> Image.Image:
    """A Pillow image of ``image`` (8-bit, or I;16 for 16-bit gray); metadata in ``.info``."""
    pixels = image.pixels
    im = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else to_uint8(pixels))
    if image.icc_profile:
        im.info["icc_profile"] = image.icc_profile
    if image.exif:
        im.info["exif"] = image.exif
    if image.dpi:
        im.info["dpi"] = image.dpi
    if image.xmp:
        im.info["xmp"] = image.xmp
    return im
