"""TIFF through tifffile: any sample type and band count, multi-page stacks (ImageJ
hyperstacks included) with their axes, CMYK, GeoTIFF tags, OME-XML, resolution and EXIF."""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from superres.io.geotiff import read_geo_tags
from superres.io.image import ImageData, TiffStack, checked_orientation, orient, oriented
from superres.io.limits import check_size
from superres.io.metadata import ICC_TAG, XMP_TAG, tiff_exif, tiff_resolution, xmp_with_orientation_reset
from superres.io.ome import image_count


def read_tiff(path: Path, max_pixels: int) -> ImageData:
    """The first series of a TIFF, its pages one after another along the bands; warnings
    name the caller of read_image."""
    import tifffile

    with _tifffile_silenced(), tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = tif.pages[0]
        if len(tif.series) > 1:  # e.g. a thumbnail, or pages of another size or type
            first = f"{'x'.join(str(n) for n in series.shape)} {series.axes}"
            message = f"{path}: holds {len(tif.series)} image series; only the first ({first}) is upscaled"
            warnings.warn(message, stacklevel=3)
        axes = series.axes
        shape = dict(zip(axes, series.shape, strict=True))
        stack_axes = "".join(a for a in axes if a not in "YXS")
        stack_shape = tuple(shape[a] for a in stack_axes)
        check_size(shape.get("X", 1), shape.get("Y", 1), max_pixels, path, math.prod(stack_shape))
        pixels = series.asarray()
        icc = page.tags[ICC_TAG].value if ICC_TAG in page.tags else None
        xmp = xmp_with_orientation_reset(bytes(page.tags[XMP_TAG].value)) if XMP_TAG in page.tags else None
        orientation = checked_orientation(page.tags[274].value, path) if 274 in page.tags else 1
        extra = page.tags[338].value if 338 in page.tags else ()
        imagej = tif.is_imagej
        cmyk = page.photometric == tifffile.PHOTOMETRIC.SEPARATED
        geo = read_geo_tags(page, path)
        resolution = tiff_resolution(tif, page, path)
        ome_xml = _carried_ome(tif, path)
    exif = tiff_exif(path)
    if geo is not None and orientation != 1:
        warnings.warn(f"{path}: a reoriented TIFF's georeferencing is not carried over", stacklevel=3)
        geo = None
    pixels = _pages_along_bands(pixels, axes, stack_axes)
    extra = tuple(np.atleast_1d(extra))
    has_alpha = bool(extra) and int(extra[-1]) in (1, 2) and shape.get("S", 1) in (2, 4)
    stack = TiffStack(stack_axes, stack_shape, imagej) if stack_axes else None
    icc = bytes(icc) if icc else None
    pixels, resolution = orient(pixels, orientation), oriented(resolution, orientation)
    return ImageData(
        pixels,
        has_alpha,
        icc,
        exif,
        "TIFF",
        stack=stack,
        cmyk=cmyk,
        geo=geo,
        resolution=resolution,
        ome_xml=ome_xml,
        xmp=xmp or None,
    )


@contextlib.contextmanager
def _tifffile_silenced() -> Iterator[None]:
    """tifffile's log records dropped while a file is read: its lines about a malformed tag
    (one it then leaves out) would reach the user beside superres' own one-line messages."""
    logger = logging.getLogger("tifffile")
    drop_all = logging.Filter("no logger has this name")  # passes no record
    logger.addFilter(drop_all)
    try:
        yield
    finally:
        logger.removeFilter(drop_all)


def _pages_along_bands(pixels: np.ndarray, axes: str, stack_axes: str) -> np.ndarray:
    """Y, X, then the stack's axes and the samples, flattened: page after page along the
    bands (1-bit samples as 0 and 255)."""
    if "S" not in axes:
        pixels, axes = pixels[..., None], axes + "S"
    pixels = np.transpose(pixels, [axes.index(a) for a in "YX" + stack_axes + "S"])
    pixels = np.ascontiguousarray(pixels.reshape(pixels.shape[0], pixels.shape[1], -1))
    if pixels.dtype == np.bool_:
        pixels = pixels.astype(np.uint8) * 255
    return pixels


def _carried_ome(tif: Any, path: Path) -> str | None:
    """The OME-XML of an OME-TIFF that describes one image (the series that is upscaled)."""
    if not tif.is_ome:
        return None
    xml = tif.ome_metadata
    count = image_count(xml or "")
    if count == 1:
        return xml
    warnings.warn(f"{path}: its OME-XML describes {count} images; it is not carried over", stacklevel=4)
    return None
