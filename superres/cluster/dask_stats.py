"""What a raster's value mapping needs from all of it, found chunk by chunk on Dask: per band
the range of its valid samples, and the mean its no-data pixels are filled with.

The single-machine engine finds these over the whole page (:mod:`superres.engine.values`);
here each chunk reports its own and the driver combines them, so every chunk of a raster
larger than memory is mapped to [0, 1], filled and clamped exactly as the whole would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from superres.engine.values import ValueMapping, band_bounds, fill_values, value_range
from superres.io.geotiff import is_nodata

if TYPE_CHECKING:
    import dask.array as da


@dataclass(frozen=True)
class RasterStats:
    """The value mapping of a raster's bands, its no-data fill per band (None when no pixel is
    no-data) and per band the (lows, highs) of its valid finite samples."""

    mapping: ValueMapping
    fill: np.ndarray | None
    bounds: tuple[np.ndarray, np.ndarray]


def _chunk_extremes(block: np.ndarray, nodata: float | None) -> np.ndarray:
    """1 x 1 x (2C + 1): per band the lowest and highest valid finite sample, then the
    number of valid pixels."""
    missing = is_nodata(block, nodata)
    lows, highs = band_bounds(block, missing)
    valid = block.shape[0] * block.shape[1] - (0 if missing is None else int(missing.sum()))
    return np.concatenate([lows, highs, [valid]])[None, None]


def _chunk_fill_sums(block: np.ndarray, nodata: float | None, mapping: ValueMapping) -> np.ndarray:
    """1 x 1 x C: the engine's no-data fill of this chunk (its valid pixels' band means)
    times its valid pixel count, to be summed over chunks."""
    missing = is_nodata(block, nodata)
    if missing is None:
        missing = np.zeros(block.shape[:2], dtype=bool)
    valid = int((~missing).sum())
    means = fill_values(block, missing, mapping) if valid else np.zeros(block.shape[2])
    return (means * valid)[None, None]


def _per_chunk(pixels: da.Array, function: object, width: int, **kwargs: object) -> np.ndarray:
    """``function(block, **kwargs)`` over every chunk of H x W x C ``pixels`` (one chunk along
    C), each giving 1 x 1 x ``width``: computed, as chunk rows x chunk columns x ``width``."""
    rows, columns = (len(c) for c in pixels.chunks[:2])
    chunks = ((1,) * rows, (1,) * columns, (width,))
    return pixels.map_blocks(function, dtype=np.float64, chunks=chunks, **kwargs).compute()


def raster_stats(pixels: da.Array, nodata: float | None) -> RasterStats:
    """The :class:`RasterStats` of H x W x C ``pixels`` (one chunk along C), found as
    :func:`superres.engine.values.stack_pages` would over the whole: one pass over the
    chunks, and a second for the fill where some pixels are no-data."""
    bands = pixels.shape[2]
    found = _per_chunk(pixels, _chunk_extremes, 2 * bands + 1, nodata=nodata)
    lows, highs = found[..., :bands].min(axis=(0, 1)), found[..., bands:-1].max(axis=(0, 1))
    valid = int(found[..., -1].sum())
    some = lows <= highs  # bands with a valid finite sample
    extremes = np.array([lows[some], highs[some]]).astype(pixels.dtype)
    mapping = ValueMapping(*value_range(extremes))  # the same range as over every sample
    fill = None
    if valid < pixels.shape[0] * pixels.shape[1]:
        if valid:
            sums = _per_chunk(pixels, _chunk_fill_sums, bands, nodata=nodata, mapping=mapping)
            fill = sums.sum(axis=(0, 1)) / valid
        else:
            fill = np.full(bands, mapping.low)
    return RasterStats(mapping, fill, (lows, highs))
