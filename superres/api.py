"""Image-level upscaling: channels, bit depths, alpha and the final resize around the network.

Rules, applied in :func:`upscale_image`:
- samples are mapped to [0, 1]: uint8 / 255; uint16 / the largest value of its bit depth in
  use, at least 8 bits (12-bit medical or satellite data in 16-bit samples / 4095, as the
  network would see it at 8 bits: / 65535 made it a dim, flat image and cost 2.5 dB on
  Set5, benchmarks/bit_depth.py); any other type (float, int16, ...) linearly from the
  image's own min..max; and mapped back to the same type after;
- alpha is upscaled separately by the same network (as a gray image, with its own value
  mapping) and re-attached;
- a gray image through an RGB network is replicated to RGB and averaged back to gray;
  an RGB image through a 1-channel (Y) network has Y upscaled by the network and
  Cb/Cr by bicubic, as SRCNN did; other band counts go band by band as gray images;
- no-data pixels (NaN, or GDAL's no-data value of a GeoTIFF) are left out of the value
  range, filled with their band's mean for the network, and are no-data again in the
  result (nearest-neighbour), so they neither squash the range nor leak into the output;
- each page of a multi-page TIFF (``ImageData.stack``) is upscaled on its own by these
  rules, with one value mapping for the whole stack (slices stay comparable);
- ``outscale`` resizes the network's output to round(size * outscale) with the
  MATLAB-style bicubic (antialiased when shrinking);
- a tiled run whose float32 output would pass ``ROW_BAND_BYTES`` goes in bands of rows
  (:func:`page_row_bands`), the resize included, and :func:`upscale_file` writes a TIFF
  result band by band as it is made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from superres.errors import SuperresError
from superres.inference import TileOptions, tile_count, upscale_tensor
from superres.io import (
    DEFAULT_MAX_PIXELS,
    ImageData,
    check_fits_format,
    check_format_holds,
    exif_with_resolution,
    exif_with_size,
    from_pil,
    read_image,
    to_pil,
    write_image,
    write_rows,
    writes_in_row_bands,
    xmp_with_size,
)
from superres.io.geotiff import is_nodata, nearest_mask
from superres.io.ome import rescaled_ome
from superres.models import SRModel, load_model
from superres.resize import imresize, imresize_rows, rows_read

if TYPE_CHECKING:
    from PIL import Image

TileCallback = Callable[[int, int], None]

# BT.601 full-range RGB <-> YCbCr (JPEG convention: exactly invertible, values stay in [0, 1]).
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_CHROMA_OFFSET = torch.tensor([0.0, 0.5, 0.5]).view(3, 1, 1)
ROW_BAND_BYTES = 512 << 20  # float32 output a tiled run holds at once (see page_row_bands)


def value_range(pixels: np.ndarray, missing: np.ndarray | None = None) -> tuple[float, float]:
    """(low, span) mapping H x W x C samples to [0, 1] by the module's rules; pixels
    ``missing`` (H x W) do not count."""
    samples = pixels if missing is None else pixels[~missing]
    if pixels.dtype == np.uint8:
        return 0.0, 255.0
    if pixels.dtype == np.uint16:
        bits = max(8, int(samples.max()).bit_length() if samples.size else 16)
        return 0.0, float(2**bits - 1)
    finite = samples[np.isfinite(samples)]
    if not finite.size:
        return 0.0, 1.0
    low = float(finite.min())
    return low, (float(finite.max()) - low) or 1.0


def _fill_values(
    pixels: np.ndarray, missing: np.ndarray | None, low: float, span: float
) -> np.ndarray | None:
    """Per band, the mean of the pixels not ``missing`` (infinities clipped to the range):
    what no-data pixels are filled with for the network, found once per image so that every
    row band fills alike."""
    if missing is None:
        return None
    valid = ~missing
    if not valid.any():
        return np.full(pixels.shape[2], low)
    means = [
        np.nan_to_num(pixels[:, :, band][valid].astype(np.float64), posinf=low + span, neginf=low).mean()
        for band in range(pixels.shape[2])
    ]
    return np.array(means)


def _to_unit_range(
    pixels: np.ndarray,
    missing: np.ndarray | None,
    low: float,
    span: float,
    fill: np.ndarray | None = None,
) -> tuple[torch.Tensor, Callable[[torch.Tensor], np.ndarray]]:
    """C x H x W float32 tensor, (samples - low) / span, and the function that maps a result
    back. Pixels ``missing`` (H x W) are filled with ``fill``, one value per band (from
    :func:`_fill_values` over the whole page, so that every row band fills alike)."""
    dtype = pixels.dtype
    data = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)).astype(np.float32))
    data = torch.nan_to_num(data, nan=low, posinf=low + span, neginf=low)
    if missing is not None:
        invalid = torch.from_numpy(missing)
        for band, value in zip(data, fill, strict=True):
            band[invalid] = float(value)

    def restore(result: torch.Tensor) -> np.ndarray:
        values = result.clamp_(0, 1).mul_(span).add_(low).permute(1, 2, 0).numpy()
        if np.issubdtype(dtype, np.integer):  # rounded in place: no float copies of the output
            info = np.iinfo(dtype)
            np.clip(np.round(values, out=values), info.min, info.max, out=values)
        return values.astype(dtype)

    return (data - low) / span, restore


ALPHA_UPSAMPLERS = ("network", "bicubic")


def check_alpha_upsampler(name: str) -> None:
    if name not in ALPHA_UPSAMPLERS:
        raise SuperresError(f"alpha_upsampler must be one of {', '.join(ALPHA_UPSAMPLERS)}, got {name!r}")


def _network_passes(model: SRModel, channels: int) -> int:
    """How many times :func:`_run_bands` runs the network over ``channels`` bands."""
    if channels == model.in_channels or (channels, model.in_channels) in ((1, 3), (3, 1)):
        return 1
    return channels


@dataclass
class _JobProgress:
    """Turns the per-pass ``on_tile(done, total)`` of each network pass (row bands, alpha,
    band-by-band images, pages) into one count over the whole job, planned beforehand."""

    report: TileCallback
    total: int
    finished: int = 0  # tiles of the passes already done

    def __call__(self, done: int, total: int) -> None:
        self.report(min(self.finished + done, self.total), self.total)
        if done == total:
            self.finished += total


def _job_progress(
    model: SRModel,
    image: ImageData,
    options: TileOptions,
    outscale: float | None,
    on_tile: TileCallback | None,
    alpha_upsampler: str = "network",
) -> TileCallback | None:
    """``on_tile`` counting tiles over every pass of the job (see :class:`_JobProgress`)."""
    if on_tile is None:
        return None
    page = image.page(0)  # each page of a stack runs alone, in the same row bands
    alpha = page.has_alpha and alpha_upsampler == "network"
    maps = [page.color_channels] + ([page.page_bands - page.color_channels] if alpha else [])
    width = page.pixels.shape[1]
    tiles = sum(
        _network_passes(model, channels) * tile_count(model, last - first, width, options)
        for *_, first, last in _band_windows(model, page.pixels, options, outscale)
        for channels in maps
    )
    return _JobProgress(on_tile, (image.stack.pages if image.stack else 1) * tiles)


def _run_bands(
    model: SRModel, bands: torch.Tensor, options: TileOptions, on_tile: TileCallback | None
) -> torch.Tensor:
    """Upscale a C x H x W tensor whatever its band count (see the module rules)."""
    channels = bands.shape[0]
    if channels == model.in_channels:
        return upscale_tensor(model, bands[None], options, on_tile)[0]
    if channels == 1 and model.in_channels == 3:
        return upscale_tensor(model, bands.expand(3, -1, -1)[None], options, on_tile)[0].mean(0, keepdim=True)
    if channels == 3 and model.in_channels == 1:
        ycbcr = torch.einsum("ij,jhw->ihw", _RGB_TO_YCBCR, bands) + _CHROMA_OFFSET
        luma = upscale_tensor(model, ycbcr[None, :1], options, on_tile)[0]
        chroma = imresize(ycbcr[1:], size=tuple(luma.shape[-2:]))
        ycbcr = torch.cat([luma, chroma]) - _CHROMA_OFFSET
        return torch.einsum("ij,jhw->ihw", _YCBCR_TO_RGB, ycbcr)
    return torch.cat([_run_bands(model, band[None], options, on_tile) for band in bands])


def _check_pixels(pixels: np.ndarray) -> None:
    """Refuse (ValueError) pixels with no samples, or of a type that is not a number line:
    complex samples would lose their imaginary part, and no image holds them."""
    if pixels.size == 0:
        raise ValueError(f"the image is empty (shape {pixels.shape})")
    if pixels.dtype.kind not in "uifb":
        raise ValueError(f"{pixels.dtype} samples cannot be upscaled (integers, floats or booleans can)")


def upscale_image(
    model: SRModel,
    image: ImageData,
    options: TileOptions = TileOptions(),
    outscale: float | None = None,
    on_tile: TileCallback | None = None,
    *,
    keep_dpi: bool = False,
    alpha_upsampler: str = "network",
) -> ImageData:
    """Upscale decoded pixels; the result keeps sample type, bands, alpha, pages and metadata.
    Its DPI grows with the pixels (the same print size) unless ``keep_dpi`` (a larger print).
    Alpha goes through the network, or the MATLAB-style bicubic with ``alpha_upsampler=
    "bicubic"`` (Real-ESRGAN's option: smoother edges, no halo, faster).
    ``on_tile(done, total)`` counts tiles over the whole image (every band, page and pass)."""
    check_alpha_upsampler(alpha_upsampler)
    _check_pixels(image.pixels)
    on_tile = _job_progress(model, image, options, outscale, on_tile, alpha_upsampler)
    pages, missing, low, span = _pages_and_mapping(image)
    page_options = (options, outscale, on_tile, low, span, alpha_upsampler)
    if image.stack is None:
        pixels = _upscale_page(model, image, missing[0], *page_options)
        return _rescaled(image, pixels, keep_dpi)
    out = None  # a stack's result is filled page by page: one copy of it in memory, not two
    for index, (page_image, page_missing) in enumerate(zip(pages, missing, strict=True)):
        page = _upscale_page(model, page_image, page_missing, *page_options)
        if out is None:
            out = np.empty((*page.shape[:2], page.shape[2] * image.stack.pages), page.dtype)
        out[:, :, index * page.shape[2] : (index + 1) * page.shape[2]] = page
    return _rescaled(image, out, keep_dpi)


def _pages_and_mapping(image: ImageData) -> tuple[list[ImageData], list[np.ndarray | None], float, float]:
    """The pages, each one's no-data mask, and the (low, span) value mapping they share."""
    pages = [image.page(i) for i in range(image.stack.pages)] if image.stack else [image]
    missing = [is_nodata(page.pixels, page.nodata) for page in pages]
    marked = [mask for mask in missing if mask is not None]
    anywhere = np.logical_or.reduce(marked) if marked else None
    by_page = image.pixels.reshape(*image.pixels.shape[:2], len(pages), image.page_bands)
    # One mapping for the whole stack, from its colour bands (alpha maps on its own).
    low, span = value_range(by_page[..., : image.color_channels], anywhere)
    return pages, missing, low, span


def _rescaled(image: ImageData, pixels: np.ndarray, keep_dpi: bool = False) -> ImageData:
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


def _upscale_page(
    model: SRModel,
    image: ImageData,
    missing: np.ndarray | None,
    options: TileOptions,
    outscale: float | None,
    on_tile: TileCallback | None,
    low: float,
    span: float,
    alpha_upsampler: str = "network",
) -> np.ndarray:
    """One page's upscaled samples; ``missing`` (H x W, or None) marks its no-data pixels."""
    height, width = result_size(model, image.pixels, outscale)
    out = None
    bands = page_row_bands(model, image, missing, options, on_tile, low, span, outscale, alpha_upsampler)
    for top, rows in bands:
        if top == 0 and len(rows) == height:
            return rows  # one band: the result itself, not a copy of it
        if out is None:
            out = np.empty((height, width, rows.shape[2]), rows.dtype)
        out[top : top + len(rows)] = rows
    return out


def result_size(model: SRModel, pixels: np.ndarray, outscale: float | None = None) -> tuple[int, int]:
    """(H, W) of the result: ``model.scale`` times the input's, or round(size * outscale)."""
    height, width = pixels.shape[:2]
    if outscale is None or outscale == model.scale:
        return height * model.scale, width * model.scale
    return max(1, round(height * outscale)), max(1, round(width * outscale))


def band_rows(model: SRModel, pixels: np.ndarray, options: TileOptions) -> int:
    """Input rows per band of :func:`page_row_bands`: all of them for a whole-image run
    (``tile=0``: evaluation, never split), else as many as keep one band's float32 output
    within ``ROW_BAND_BYTES`` (at least 16)."""
    height, width, bands = pixels.shape
    if options.tile == 0:
        return height
    row_bytes = 4 * max(model.out_channels, bands) * width * model.scale**2
    return min(height, max(16, ROW_BAND_BYTES // row_bytes))


def page_row_bands(
    model: SRModel,
    image: ImageData,
    missing: np.ndarray | None,
    options: TileOptions,
    on_tile: TileCallback | None,
    low: float,
    span: float,
    outscale: float | None = None,
    alpha_upsampler: str = "network",
) -> Iterator[tuple[int, np.ndarray]]:
    """One page upscaled (and resized to ``outscale`` with the MATLAB-style bicubic) in bands
    of rows, top to bottom: (first result row, rows restored to the sample type, alpha and
    no-data included). Each band is made from the input rows it needs plus ``tile_overlap``
    rows of context above and below (so a band edge is like a tile edge), converted to float
    only then: one band of float input and output is held at a time, not the whole image."""
    pixels, colour, s = image.pixels, image.color_channels, model.scale
    height = pixels.shape[0]
    size = result_size(model, pixels, outscale)
    resized = size != (height * s, pixels.shape[1] * s)
    maps = [(slice(0, colour), low, span)]
    if image.has_alpha:  # alpha maps on its own
        maps.append((slice(colour, None), *value_range(pixels[:, :, colour:], missing)))
    fills = [_fill_values(pixels[:, :, bands], missing, lo, sp) for bands, lo, sp in maps]
    bicubic_alpha = image.has_alpha and alpha_upsampler == "bicubic"
    nodata = image.nodata if image.nodata is not None else math.nan
    for out_rows, top, bottom, first, last in _band_windows(model, pixels, options, outscale):
        window = None if missing is None else missing[first:last]
        parts = []
        for index, ((bands, lo, sp), fill) in enumerate(zip(maps, fills, strict=True)):
            data, restore = _to_unit_range(pixels[first:last, :, bands], window, lo, sp, fill)
            if index == 1 and bicubic_alpha:  # band context covers the kernel: as one piece
                result = imresize(data, scale=s)
            else:
                result = _run_bands(model, data, options, on_tile)
            del data
            if resized:
                result = imresize_rows(result, size, height * s, first * s, out_rows)
            else:
                result = result[:, (top - first) * s : (bottom - first) * s]
            parts.append(restore(result))
            del result  # before the next band's buffer is made
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
        if missing is not None:
            rows[nearest_mask(missing, *size, out_rows)] = nodata
        yield out_rows.start, rows


def _band_windows(
    model: SRModel, pixels: np.ndarray, options: TileOptions, outscale: float | None
) -> list[tuple[range, int, int, int, int]]:
    """The row bands of :func:`page_row_bands`: (result rows; first and last + 1 input rows
    whose network output they are made from; the same with context, which the network reads)."""
    height, s = pixels.shape[0], model.scale
    size = result_size(model, pixels, outscale)
    resized = size != (height * s, pixels.shape[1] * s)
    step = band_rows(model, pixels, options)
    out_step = size[0] if step >= height else max(1, step * size[0] // height)
    context = options.tile_overlap if step < height else 0
    windows = []
    for out_top in range(0, size[0], out_step):
        out_rows = range(out_top, min(size[0], out_top + out_step))
        needed = rows_read(height * s, size[0], out_rows) if resized else out_rows  # network output rows
        top, bottom = needed.start // s, -(-needed.stop // s)
        windows.append((out_rows, top, bottom, max(0, top - context), min(height, bottom + context)))
    return windows


def upscale_float(model: SRModel, pixels: np.ndarray, options: TileOptions = TileOptions()) -> np.ndarray:
    """The upscaled colour bands of 8- or 16-bit pixels as float32 H x W x C in [0, 1]: what
    :func:`upscale_image` computes before rounding back to the input's sample type, for
    float targets and comparisons (distillation, student-teacher fits). Alpha is not split off."""
    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"upscale_float takes 8- or 16-bit pixels, not {pixels.dtype}")
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    low, span = value_range(pixels)
    data, _ = _to_unit_range(pixels, None, low, span)
    result = _run_bands(model, data, options, None).clamp_(0, 1) * (span / np.iinfo(pixels.dtype).max)
    return result.permute(1, 2, 0).numpy()


def upscale_file(
    model: SRModel,
    input_path: str | Path,
    output_path: str | Path,
    options: TileOptions = TileOptions(),
    outscale: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_tile: TileCallback | None = None,
    quality: int = 95,
    *,
    keep_dpi: bool = False,
    alpha_upsampler: str = "network",
) -> Path:
    """Read, upscale and atomically write one image file (``quality``: JPEG / WebP / AVIF /
    HEIC; ``keep_dpi``, ``alpha_upsampler``: see :func:`upscale_image`). A TIFF or PNG
    result too large for one row band (see :func:`page_row_bands`) is written band by band
    as it is made, so the whole result is never held (only the input and one band)."""
    check_alpha_upsampler(alpha_upsampler)
    image = read_image(input_path, max_pixels=max_pixels)
    size = result_size(model, image.pixels, outscale)
    check_fits_format(output_path, *size, source=input_path)
    check_format_holds(output_path, image, source=input_path)
    in_bands = band_rows(model, image.pixels, options) < image.pixels.shape[0]
    if in_bands and writes_in_row_bands(output_path, image):
        _, (missing,), low, span = _pages_and_mapping(image)
        # Shape, sample type and metadata of the result, without its pixels.
        shape = (*size, image.pixels.shape[2])
        result = _rescaled(image, np.broadcast_to(np.zeros((), image.pixels.dtype), shape), keep_dpi)
        on_tile = _job_progress(model, image, options, outscale, on_tile, alpha_upsampler)
        bands = page_row_bands(model, image, missing, options, on_tile, low, span, outscale, alpha_upsampler)
        return write_rows(output_path, result, (rows for _, rows in bands))
    result = upscale_image(
        model, image, options, outscale, on_tile, keep_dpi=keep_dpi, alpha_upsampler=alpha_upsampler
    )
    return write_image(output_path, result, quality)


def upscale(
    image: str | Path | np.ndarray | Image.Image,
    model: str | Path | SRModel | None = None,
    scale: int | None = None,
    outscale: float | None = None,
    tile: int | None = None,
    tile_overlap: int = TileOptions.tile_overlap,
    tta: bool = False,
    device: str | None = "cpu",
    output: str | Path | None = None,
    keep_dpi: bool = False,
    alpha_upsampler: str = "network",
) -> Any:
    """Upscale a path, PIL image or numpy array and return the same kind (``keep_dpi``,
    ``alpha_upsampler``: see :func:`upscale_image`).

    - path: the result is written to ``output`` (default ``<stem>_x<scale><suffix>`` beside
      the input) and that path is returned;
    - PIL image: a PIL image (16-bit RGB is not representable in Pillow and comes back 8-bit);
    - numpy array (H x W or H x W x C, any sample type): an array of the same dtype and layout.
    """
    from PIL import Image as PILImage

    sr_model = model if isinstance(model, SRModel) else load_model(model, scale=scale, device=device)
    options = TileOptions(tile=tile, tile_overlap=tile_overlap, tta=tta)
    extra = {"keep_dpi": keep_dpi, "alpha_upsampler": alpha_upsampler}
    if isinstance(image, (str, Path)):
        source = Path(image)
        if output is None:
            output = source.with_name(f"{source.stem}_x{sr_model.scale}{source.suffix}")
        if Path(output).resolve() == source.resolve():
            raise SuperresError("refusing to overwrite the input image", source)
        return upscale_file(sr_model, source, output, options, outscale, **extra)
    if isinstance(image, PILImage.Image):
        return to_pil(upscale_image(sr_model, from_pil(image), options, outscale, **extra))
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise ValueError(f"expected an H x W or H x W x C array, got shape {image.shape}")
        pixels = image[:, :, None] if image.ndim == 2 else image
        has_alpha = pixels.shape[2] in (2, 4)
        result = upscale_image(sr_model, ImageData(pixels, has_alpha), options, outscale, **extra).pixels
        return result[:, :, 0] if image.ndim == 2 else result
    raise TypeError(f"cannot upscale a {type(image).__name__}; give a path, PIL image or numpy array")
