"""Writing TIFF: through Pillow when only it carries the EXIF, else through tifffile (any
sample type, bands, stacks, CMYK, GeoTIFF and OME-XML), deflate-compressed."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from superres.io.cog import pyramid_stage
from superres.io.image import ImageData
from superres.io.metadata import (
    ICC_TAG,
    XMP_TAG,
    exif_descriptive_tags,
    has_exif_sub_ifds,
    tiff_resolution_options,
)

_IMAGEJ_TYPES = (np.uint8, np.uint16, np.int16, np.float32)  # what tifffile writes as an ImageJ hyperstack


def _pillow_can_write_tiff(image: ImageData) -> bool:
    """Pillow writes EXIF into TIFFs but holds only 8-bit L/LA/RGB/RGBA and 16-bit gray."""
    pixels = image.pixels
    if pixels.dtype == np.uint16:
        return pixels.shape[2] == 1
    return pixels.dtype == np.uint8 and pixels.shape[2] in (1, 3) + ((2, 4) if image.has_alpha else ())


def tiff_through_pillow(image: ImageData) -> bool:
    """Whether a TIFF of ``image`` goes through Pillow, the one writer here that carries EXIF:
    when there is EXIF and Pillow holds the pixels and every tag (no stack, georeferencing or OME)."""
    if not image.exif or image.stack is not None or image.geo is not None or image.ome_xml is not None:
        return False
    return _pillow_can_write_tiff(image)


def warn_if_exif_dropped(path: Path, image: ImageData) -> None:
    """Say that EXIF's camera settings and GPS are lost where tifffile writes the TIFF."""
    if not image.exif or tiff_through_pillow(image) or not has_exif_sub_ifds(image.exif):
        return
    if image.geo is not None:
        kind = "a georeferenced TIFF"
    elif image.stack is not None:
        kind = f"a TIFF of {image.stack.pages} pages"
    else:
        kind = f"a TIFF of {image.pixels.shape[2]} {image.pixels.dtype} bands"
    warnings.warn(
        f"{path}: the input's EXIF camera settings and GPS are not carried into {kind} (its make,"
        " model, date, artist and copyright are; PNG or JPEG would keep all of it)",
        stacklevel=4,
    )


def write_tiff(path: Path, image: ImageData) -> None:
    """Deflate-compressed TIFF: through Pillow when there is EXIF to carry and Pillow can
    hold the image, else through tifffile (any sample type and band count, ICC kept). The
    libtiff encoder behind Pillow's compression cannot write EXIF's own sub-IFDs (camera
    settings, GPS), so a TIFF carrying them is written uncompressed, with all of its EXIF."""
    if tiff_through_pillow(image):
        im = Image.fromarray(image.pixels[:, :, 0] if image.pixels.shape[2] == 1 else image.pixels)
        tags = Image.Exif()
        tags.load(image.exif)
        if image.xmp:  # in the same tag set: Pillow's tiffinfo would replace the EXIF
            tags[XMP_TAG] = image.xmp
        options = {"exif": tags}
        if not has_exif_sub_ifds(image.exif):
            options["compression"] = "tiff_adobe_deflate"
        if image.icc_profile:
            options["icc_profile"] = image.icc_profile
        if image.dpi:
            options["dpi"] = image.dpi
        im.save(path, format="TIFF", **options)
        return
    if image.stack is not None:
        _write_tiff_stack(path, image)
        return
    import tifffile

    pixels = image.pixels if image.pixels.shape[2] > 1 else image.pixels[:, :, 0]
    with pyramid_stage(path, image.pyramid) as target:
        tifffile.imwrite(target, pixels, **tifffile_options(image))


def tifffile_options(image: ImageData) -> dict:
    """tifffile.imwrite arguments for a single-page ``image``: bands, compression, metadata."""
    channels = image.pixels.shape[2]
    return {
        "photometric": _tiff_photometric(image),
        "planarconfig": "contig" if channels > 1 else None,
        "extrasamples": ("unassalpha",) if image.has_alpha else None,
        "compression": "zlib",
        "extratags": _extratags(image),
        **tiff_resolution_options(image),
        **_ome_options(image),
    }


def _ome_options(image: ImageData) -> dict:
    """tifffile.imwrite arguments that make the output an OME-TIFF with ``image.ome_xml``
    as its description (instead of tifffile's own shaped-array description)."""
    return {"description": image.ome_xml, "metadata": None} if image.ome_xml else {}


def _extratags(image: ImageData) -> list[tuple]:
    """The ICC profile, XMP, EXIF's descriptive tags (make, model, date, artist, copyright:
    a TIFF's own), and the GeoTIFF / GDAL tags rescaled to the output raster."""
    tags = [(ICC_TAG, "B", len(image.icc_profile), image.icc_profile, True)] if image.icc_profile else []
    if image.xmp:
        tags.append((XMP_TAG, "B", len(image.xmp), image.xmp, True))
    if image.exif:
        tags += [(tag, "s", 0, value, True) for tag, value in exif_descriptive_tags(image.exif).items()]
    if image.geo is not None:
        tags += image.geo.rescaled(image.pixels.shape[1], image.pixels.shape[0])
    return tags


def _tiff_photometric(image: ImageData) -> str:
    if image.cmyk:
        return "separated"
    return "rgb" if image.color_channels == 3 else "minisblack"


def _write_tiff_stack(path: Path, image: ImageData) -> None:
    """A multi-page TIFF with the source's axes: an ImageJ hyperstack when the source was one
    and ImageJ can hold the sample type, else tifffile's shaped pages (axes in the description)."""
    import tifffile

    stack, bands = image.stack, image.page_bands
    height, width = image.pixels.shape[:2]
    pixels = image.pixels.reshape(height, width, *stack.shape, bands)
    pixels = np.moveaxis(pixels, [0, 1], [len(stack.shape), len(stack.shape) + 1])  # stack, Y, X, S
    axes = stack.axes + "YX" + ("S" if bands > 1 else "")
    if bands == 1:
        pixels = pixels[..., 0]
    options = {"photometric": _tiff_photometric(image)}
    if bands > 1:
        options |= {"planarconfig": "contig", "extrasamples": ("unassalpha",) if image.has_alpha else None}
    imagej = stack.imagej and pixels.dtype in _IMAGEJ_TYPES and set(axes) <= set("TZCYXS")
    imagej = imagej and image.ome_xml is None  # pages in the input's order, as its OME-XML maps them
    options["extratags"] = _extratags(image)
    if imagej:
        metadata = {"axes": axes}
        res = image.resolution
        if res is not None:  # ImageJ keeps its unit and slice spacing in its own description
            options |= {"resolution": (res.x, res.y)}
            metadata |= {"unit": res.unit} if res.unit not in ("none", "inch", "centimeter") else {}
            metadata |= {"spacing": res.z_spacing} if res.z_spacing else {}
        tifffile.imwrite(path, pixels, imagej=True, metadata=metadata, **options)
    else:
        options |= tiff_resolution_options(image)
        options |= _ome_options(image) or {"metadata": {"axes": axes}}
        tifffile.imwrite(path, pixels, compression="zlib", **options)
