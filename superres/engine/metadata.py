"""The metadata of an upscaled image: resolution, EXIF, XMP and OME-XML follow the pixels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from superres.io import ImageData, exif_with_resolution, exif_with_size, xmp_with_size
from superres.io.ome import rescaled_ome


def rescaled(image: ImageData, pixels: np.ndarray, *, keep_dpi: bool = False) -> ImageData:
    """``image`` with upscaled ``pixels``; its resolution (pixels per unit) grows with them
    (but a DPI stays with ``keep_dpi``; a microscope's calibration always follows), and an
    OME-XML's size and physical pixel size follow."""
    res, exif, ome_xml, xmp = image.resolution, image.exif, image.ome_xml, image.xmp
    (height, width), (new_height, new_width) = image.pixels.shape[:2], pixels.shape[:2]
    if res is not None and not (keep_dpi and res.dpi() is not None):
        res = replace(res, x=res.x * new_width / width, y=res.y * new_height / height)
        exif = exif_with_resolution(exif, res) if exif else exif
    if exif:
        exif = exif_with_size(exif, new_width, new_height)
    if xmp:
        xmp = xmp_with_size(xmp, new_width, new_height, res.dpi() if res is not None else None)
    if ome_xml is not None:
        ome_xml = rescaled_ome(ome_xml, width, height, new_width, new_height)
    return replace(image, pixels=pixels, resolution=res, exif=exif, ome_xml=ome_xml, xmp=xmp)
