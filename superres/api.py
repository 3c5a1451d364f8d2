"""The entry points: upscale decoded pixels, a file, or whatever ``superres.upscale`` is given.

The engine they run (value mapping, channels, alpha, no-data, pages, row bands, metadata)
is :mod:`superres.engine`, whose docstring states the rules.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, overload

import numpy as np

from superres.atomic import written_by_superres
from superres.engine.metadata import rescaled
from superres.engine.options import TileOptions, UpscaleOptions
from superres.engine.progress import job_progress
from superres.engine.rows import band_rows, page_row_bands, result_size, upscale_pages
from superres.engine.tiles import TileCallback
from superres.engine.values import ValueMapping, check_pixels, stack_pages, to_unit_range, value_range
from superres.errors import SuperresError
from superres.io import (
    ImageData,
    check_fits_format,
    check_format_holds,
    from_pil,
    read_image,
    to_pil,
    write_image,
    write_rows,
    writes_in_row_bands,
)
from superres.io.formats import format_suffix
from superres.io.geotiff import flagging_nodata
from superres.models import SRModel, load_model

if TYPE_CHECKING:
    from PIL import Image
    from typing_extensions import Unpack

__all__ = [
    "Conveniences",
    "TileOptions",
    "UpscaleOptions",
    "upscale",
    "upscale_file",
    "upscale_float",
    "upscale_image",
]


def upscale_image(
    model: SRModel,
    image: ImageData,
    options: UpscaleOptions = UpscaleOptions(),
    *,
    on_tile: TileCallback | None = None,
) -> ImageData:
    """Upscale decoded pixels; the result keeps sample type, bands, alpha, pages and metadata
    (see :class:`UpscaleOptions`). ``on_tile(done, total)`` counts tiles over the whole image
    (every band, page and pass)."""
    check_pixels(image.pixels)
    image = _flag_nodata(image, options)
    progress = job_progress(model, image, options, on_tile)
    pixels = upscale_pages(model, image, options, on_tile=progress)
    result = rescaled(image, pixels, keep_dpi=options.keep_dpi)
    if image.medical is not None:  # a DICOM's DerivationDescription names the model
        result = replace(result, medical=image.medical.derived(model.name))
    return result


def upscale_float(model: SRModel, pixels: np.ndarray, options: TileOptions = TileOptions()) -> np.ndarray:
    """The upscaled colour bands of 8- or 16-bit pixels as float32 H x W x C in [0, 1]: what
    :func:`upscale_image` computes before rounding back to the input's sample type, for
    float targets and comparisons (distillation, student-teacher fits). Alpha is not split off."""
    from superres.engine.channels import run_bands

    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"upscale_float takes 8- or 16-bit pixels, not {pixels.dtype}")
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    mapping = ValueMapping(*value_range(pixels))
    data, _ = to_unit_range(pixels, mapping)
    result = run_bands(model, data, options, None).clamp_(0, 1) * (mapping.span / np.iinfo(pixels.dtype).max)
    return result.permute(1, 2, 0).numpy()


def upscale_file(
    model: SRModel,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    options: UpscaleOptions = UpscaleOptions(),
    *,
    on_tile: TileCallback | None = None,
    overwrite: bool = False,
) -> Path:
    """Read, upscale and atomically write one image file. A TIFF or PNG result too large for
    one row band (see :func:`superres.engine.rows.page_row_bands`) is written band by band
    as it is made, so the whole result is never held (only the input and one band). An
    existing ``output_path`` is replaced only if superres wrote it, or with ``overwrite``."""
    target = Path(output_path)
    if (target.exists() or target.is_symlink()) and not overwrite and not written_by_superres(target):
        raise SuperresError(
            f"output {target} exists and superres did not write it; overwrite=True replaces it"
        )
    image = _flag_nodata(read_image(input_path, max_pixels=options.max_pixels), options)
    size = result_size(model, image.pixels, options.outscale)
    check_output_size(*size, limit=options.output_pixel_limit, source=input_path)
    check_fits_format(output_path, *size, source=input_path)
    check_format_holds(output_path, image, source=input_path)
    in_bands = band_rows(model, image.pixels, options.tiling) < image.pixels.shape[0]
    if in_bands and writes_in_row_bands(output_path, image):
        (page,) = stack_pages(image)
        # Shape, sample type and metadata of the result, without its pixels.
        shape = (*size, image.pixels.shape[2])
        blank = np.broadcast_to(np.zeros((), image.pixels.dtype), shape)
        result = rescaled(image, blank, keep_dpi=options.keep_dpi)
        progress = job_progress(model, image, options, on_tile)
        bands = page_row_bands(model, page, options, on_tile=progress)
        return write_rows(output_path, result, (rows for _, rows in bands))
    result = upscale_image(model, image, options, on_tile=on_tile)
    return write_image(output_path, result, options.quality)


def _flag_nodata(image: ImageData, options: UpscaleOptions) -> ImageData:
    """``image`` with ``options.nodata`` as its no-data value, where one is given."""
    if options.nodata is None:
        return image
    height, width = image.pixels.shape[:2]
    return replace(image, geo=flagging_nodata(image.geo, options.nodata, width, height))


def check_output_size(height: int, width: int, *, limit: int, source: object) -> None:
    """SuperresError naming ``source`` when a height x width result is over ``limit`` pixels."""
    if height * width > limit:
        raise SuperresError(
            f"the result would be {width}x{height} = {width * height:,} pixels,"
            f" over --max-output-pixels ({limit:,})",
            source,
        )


class Conveniences(TypedDict, total=False):
    """Keywords of :func:`upscale` that replace fields of its ``options``: any field of
    :class:`UpscaleOptions`, and ``tile``, ``tile_overlap`` and ``tta`` of its tiling."""

    outscale: float | None
    tile: int | None
    tile_overlap: int | None
    tta: bool | None
    keep_dpi: bool | None
    alpha_upsampler: str | None
    quality: int | None
    max_pixels: int | None
    max_output_pixels: int | None
    nodata: float | None
    clamp_range: bool | None


_TILING_KEYS = ("tile", "tile_overlap", "tta")


def _with_conveniences(options: UpscaleOptions | None, given: dict[str, Any]) -> UpscaleOptions:
    """``options`` (default: the defaults) with each convenience given (not None) in place."""
    options = options or UpscaleOptions()
    known = {f.name for f in fields(UpscaleOptions)} | set(_TILING_KEYS)
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"upscale() got an unexpected keyword argument {unknown[0]!r}")
    given = {key: value for key, value in given.items() if value is not None}
    tiling = {key: given.pop(key) for key in _TILING_KEYS if key in given}
    if tiling:
        given["tiling"] = replace(options.tiling, **tiling)
    return replace(options, **given)


@overload
def upscale(
    image: str | os.PathLike[str],
    model: str | os.PathLike[str] | SRModel | None = None,
    *,
    scale: int | None = None,
    device: str | None = "cpu",
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    options: UpscaleOptions | None = None,
    **conveniences: Unpack[Conveniences],
) -> Path: ...


@overload
def upscale(
    image: Image.Image,
    model: str | os.PathLike[str] | SRModel | None = None,
    *,
    scale: int | None = None,
    device: str | None = "cpu",
    options: UpscaleOptions | None = None,
    **conveniences: Unpack[Conveniences],
) -> Image.Image: ...


@overload
def upscale(
    image: np.ndarray,
    model: str | os.PathLike[str] | SRModel | None = None,
    *,
    scale: int | None = None,
    device: str | None = "cpu",
    options: UpscaleOptions | None = None,
    **conveniences: Unpack[Conveniences],
) -> np.ndarray: ...


def upscale(
    image: str | os.PathLike[str] | np.ndarray | Image.Image,
    model: str | os.PathLike[str] | SRModel | None = None,
    *,
    scale: int | None = None,
    device: str | None = "cpu",
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    options: UpscaleOptions | None = None,
    **conveniences: Unpack[Conveniences],
) -> Path | np.ndarray | Image.Image:
    """Upscale a path, PIL image or numpy array and return the same kind.

    ``model``: an :class:`SRModel`, or what :func:`superres.load_model` takes (with ``scale``
    and ``device``); None or ``"auto"`` (unlike ``load_model``'s None, the PSNR default):
    the scale's model for real photos for a JPEG file at quality 90 or below or a noisy
    image, the scale's default otherwise (:mod:`superres.engine.auto`).
    ``options``: an :class:`UpscaleOptions`; the :class:`Conveniences`
    (``outscale=2.5``, ``tile=256``, ``tta=True``, ...), where given and not None, replace
    its fields.

    - path: the result is written to ``output`` (default ``<stem>_x<scale><suffix>`` beside
      the input) and that path is returned; an existing file there is replaced only if
      superres wrote it, or with ``overwrite=True``;
    - PIL image: a PIL image (16-bit RGB is not representable in Pillow and comes back 8-bit);
    - numpy array (H x W or H x W x C, any sample type): an array of the same dtype and layout.
    """
    from PIL import Image as PILImage

    options = _with_conveniences(options, dict(conveniences))
    if model is None or model == "auto":
        sr_model = _auto_pick(image, scale or 4, device, options.max_pixels)
    else:
        sr_model = model if isinstance(model, SRModel) else load_model(model, scale=scale, device=device)
    if isinstance(image, (str, os.PathLike)):
        source = Path(image)
        if output is None:
            suffix = format_suffix(source) if format_suffix(source) == ".nii.gz" else source.suffix
            output = source.with_name(f"{source.name[: -len(suffix) or None]}_x{sr_model.scale}{suffix}")
        if Path(output).resolve() == source.resolve():
            raise SuperresError("refusing to overwrite the input image", source)
        return upscale_file(sr_model, source, output, options, overwrite=overwrite)
    if isinstance(image, PILImage.Image):
        return to_pil(upscale_image(sr_model, from_pil(image), options))
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise ValueError(f"expected an H x W or H x W x C array, got shape {image.shape}")
        pixels = image[:, :, None] if image.ndim == 2 else image
        has_alpha = pixels.shape[2] in (2, 4)
        result = upscale_image(sr_model, ImageData(pixels, has_alpha), options).pixels
        return result[:, :, 0] if image.ndim == 2 else result
    raise TypeError(f"cannot upscale a {type(image).__name__}; give a path, PIL image or numpy array")


def _auto_pick(image: object, scale: int, device: str | None, max_pixels: int) -> SRModel:
    """The model ``auto`` runs on ``image`` (a path, PIL image or array) at ``scale``."""
    from superres.engine.auto import AutoModels

    auto = AutoModels(scale, lambda name: load_model(name, scale=scale, device=device))
    if isinstance(image, (str, os.PathLike)):
        return auto.for_file(image, max_pixels=max_pixels)[0]
    if isinstance(image, np.ndarray):
        return auto.for_pixels(image, has_alpha=image.ndim == 3 and image.shape[2] in (2, 4))[0]
    if hasattr(image, "mode"):  # PIL
        data = from_pil(image)
        return auto.for_pixels(data.pixels, has_alpha=data.has_alpha)[0]
    raise TypeError(f"cannot upscale a {type(image).__name__}; give a path, PIL image or numpy array")
