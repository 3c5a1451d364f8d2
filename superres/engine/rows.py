"""A page upscaled in bands of rows, and an image page by page.

A tiled run whose float32 output would pass ``ROW_BAND_BYTES`` goes in bands of rows, each
made from the input rows it needs plus ``tile_overlap`` rows of context above and below (so
a band edge is like a tile edge) and resized to ``outscale`` on its own: one band of float
input and output is held at a time, not the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from superres.engine.channels import run_bands
from superres.engine.options import TileOptions, UpscaleOptions
from superres.engine.tiles import TileCallback
from superres.engine.values import (
    Page,
    ValueMapping,
    band_bounds,
    clamp_bands,
    fill_values,
    is_raster,
    stack_pages,
    to_unit_range,
    value_range,
)
from superres.io import ImageData
from superres.io.geotiff import nearest_mask
from superres.models import SRModel
from superres.resize import imresize, imresize_rows, rows_read

ROW_BAND_BYTES = 512 << 20  # float32 output a tiled run holds at once


@dataclass(frozen=True)
class RowBand:
    """Result rows ``out_rows``, made from the network output of input rows ``top`` to
    ``bottom`` (exclusive); the network reads ``first`` to ``last``, which add the context."""

    out_rows: range
    top: int
    bottom: int
    first: int
    last: int


def result_size(model: SRModel, pixels: np.ndarray, outscale: float | None = None) -> tuple[int, int]:
    """(H, W) of the result: ``model.scale`` times the input's, or round(size * outscale)."""
    height, width = pixels.shape[:2]
    if outscale is None or outscale == model.scale:
        return height * model.scale, width * model.scale
    return max(1, round(height * outscale)), max(1, round(width * outscale))


def band_rows(model: SRModel, pixels: np.ndarray, tiling: TileOptions) -> int:
    """Input rows per band of :func:`page_row_bands`: all of them for a whole-image run
    (``tile=0``: evaluation, never split), else as many as keep one band's float32 output
    within ``ROW_BAND_BYTES`` (at least 16)."""
    height, width, bands = pixels.shape
    if tiling.tile == 0:
        return height
    row_bytes = 4 * max(model.out_channels, bands) * width * model.scale**2
    return min(height, max(16, ROW_BAND_BYTES // row_bytes))


def band_windows(model: SRModel, pixels: np.ndarray, options: UpscaleOptions) -> list[RowBand]:
    """The row bands :func:`page_row_bands` makes of ``pixels``, top to bottom."""
    height, s = pixels.shape[0], model.scale
    size = result_size(model, pixels, options.outscale)
    resized = size != (height * s, pixels.shape[1] * s)
    step = band_rows(model, pixels, options.tiling)
    out_step = size[0] if step >= height else max(1, step * size[0] // height)
    context = options.tiling.tile_overlap if step < height else 0
    windows = []
    for out_top in range(0, size[0], out_step):
        out_rows = range(out_top, min(size[0], out_top + out_step))
        needed = rows_read(height * s, size[0], out_rows) if resized else out_rows  # network output rows
        top, bottom = needed.start // s, -(-needed.stop // s)
        windows.append(RowBand(out_rows, top, bottom, max(0, top - context), min(height, bottom + context)))
    return windows


def page_row_bands(
    model: SRModel, page: Page, options: UpscaleOptions, *, on_tile: TileCallback | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """One page upscaled (and resized to ``outscale``) in bands of rows, top to bottom:
    (first result row, rows restored to the sample type, alpha and no-data included)."""
    image, missing = page.image, page.missing
    pixels, colour, s = image.pixels, image.color_channels, model.scale
    height = pixels.shape[0]
    size = result_size(model, pixels, options.outscale)
    resized = size != (height * s, pixels.shape[1] * s)
    maps = [(slice(0, colour), page.mapping)]
    if image.has_alpha:  # alpha maps on its own
        maps.append((slice(colour, None), ValueMapping(*value_range(pixels[:, :, colour:], missing))))
    fills = [fill_values(pixels[:, :, bands], missing, mapping) for bands, mapping in maps]
    bounds = _clamp_bounds(page, options)
    bicubic_alpha = image.has_alpha and options.alpha_upsampler == "bicubic"
    nodata = image.nodata if image.nodata is not None else math.nan
    for band in band_windows(model, pixels, options):
        window = None if missing is None else missing[band.first : band.last]
        parts = []
        for index, ((bands, mapping), fill) in enumerate(zip(maps, fills, strict=True)):
            data, restore = to_unit_range(pixels[band.first : band.last, :, bands], mapping, window, fill)
            if index == 1 and bicubic_alpha:  # band context covers the kernel: as one piece
                result = imresize(data, scale=s)
            else:
                result = run_bands(model, data, options.tiling, on_tile)
            del data
            if resized:
                result = imresize_rows(result, size, height * s, band.first * s, band.out_rows)
            else:
                result = result[:, (band.top - band.first) * s : (band.bottom - band.first) * s]
            parts.append(restore(result))
            del result  # before the next band's buffer is made
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
        if bounds is not None:
            clamp_bands(rows, bounds)
        if missing is not None:
            rows[nearest_mask(missing, *size, band.out_rows)] = nodata
        yield band.out_rows.start, rows


def _clamp_bounds(page: Page, options: UpscaleOptions) -> tuple[np.ndarray, np.ndarray] | None:
    """Per colour band, the range a page's result is clamped to: the input's own range for a
    raster (:func:`~superres.engine.values.is_raster`) unless ``options.clamp_range`` is off;
    None: not clamped."""
    if not options.clamp_range or not is_raster(page.image):
        return None
    return band_bounds(page.image.pixels[:, :, : page.image.color_channels], page.missing)


def upscale_page(
    model: SRModel, page: Page, options: UpscaleOptions, *, on_tile: TileCallback | None = None
) -> np.ndarray:
    """One page's upscaled samples, its row bands put together."""
    height, width = result_size(model, page.image.pixels, options.outscale)
    out = None
    for top, rows in page_row_bands(model, page, options, on_tile=on_tile):
        if top == 0 and len(rows) == height:
            return rows  # one band: the result itself, not a copy of it
        if out is None:
            out = np.empty((height, width, rows.shape[2]), rows.dtype)
        out[top : top + len(rows)] = rows
    return out


def upscale_pages(
    model: SRModel, image: ImageData, options: UpscaleOptions, *, on_tile: TileCallback | None = None
) -> np.ndarray:
    """The upscaled samples of every page of ``image``, in its band order."""
    pages = stack_pages(image)
    if image.stack is None:
        return upscale_page(model, pages[0], options, on_tile=on_tile)
    out = None  # a stack's result is filled page by page: one copy of it in memory, not two
    for index, page in enumerate(pages):
        result = upscale_page(model, page, options, on_tile=on_tile)
        if out is None:
            out = np.empty((*result.shape[:2], result.shape[2] * len(pages)), result.dtype)
        out[:, :, index * result.shape[2] : (index + 1) * result.shape[2]] = result
    return out
