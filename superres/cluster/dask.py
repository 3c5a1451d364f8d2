"""Rasters larger than memory upscaled chunk by chunk on Dask (``pip install 'superres[dask]'``).

:func:`upscale` maps the network over the chunks of a Dask array or an xarray DataArray
(rioxarray's band, y, x) with ``dask.array.map_overlap``: each chunk is read with a halo one
tile deep and runs the tiles of the whole raster's tile grid that reach into it, blended as
the single-machine tiler blends them (:mod:`.dask_tiles`), then trimmed to its own pixels x
scale; so the result equals ``superres upscale``'s tiled one up to rounding, for networks
whose tiles differ from the whole image too, and no chunk's edge shows. The value mapping,
the no-data fill and the per-band range the result is clamped to are found over the whole
raster first (:mod:`.dask_stats`: one pass over the chunks, two with no-data), so every
chunk maps its samples as the whole would.

The model is loaded once, on the driver, and enters the graph as one key: a worker receives
it once and keeps it for all of its chunks (it is not pickled into every task).

:func:`write_cog` (in :mod:`.dask_cog`) stores a result as a Cloud-Optimized GeoTIFF block
by block. Importing this module imports neither Dask nor xarray; :func:`upscale` does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from superres.cluster.dask_cog import write_cog
from superres.engine.options import TileOptions, UpscaleOptions

__all__ = ["RasterOptions", "upscale", "write_cog"]

BAND_ORDERS = ("first", "last")


@dataclass(frozen=True)
class RasterOptions:
    """How :func:`upscale` runs: ``tiling`` (tile size, overlap and TTA, as for ``superres upscale``);
    ``nodata`` (a no-data value the data does not flag; else a DataArray's own, rioxarray's
    ``rio.nodata``); ``clamp_range`` (each band's result clamped to its input range, as for a
    GeoTIFF through ``superres upscale``); ``bands``: where a plain 3-D array keeps its bands,
    ``"first"`` (rasterio's band, y, x) or ``"last"`` (y, x, band)."""

    tiling: TileOptions = TileOptions()
    nodata: float | None = None
    clamp_range: bool = True
    bands: str = "first"


def _at_least(chunks: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """``chunks`` with any chunk under ``depth`` (a short last one) merged into its neighbour,
    so every halo comes from one chunk."""
    merged: list[int] = []
    for size in chunks:
        if merged and (size < depth or merged[-1] < depth):
            merged[-1] += size
        else:
            merged.append(size)
    return tuple(merged)


def _plan(shape: tuple[int, ...], model: Any, options: RasterOptions) -> Any:
    """The chunk plan without the raster's statistics: the row bands and tile grids that
    ``superres upscale`` would run over a raster of ``shape`` (H x W x C)."""
    from superres.cluster.dask_tiles import BandGrid, ChunkPlan
    from superres.engine.rows import band_windows
    from superres.engine.tiles import tile_grid
    from superres.engine.values import ValueMapping

    blank = np.broadcast_to(np.zeros((), np.float32), shape)  # band_windows reads the shape only
    tiling = options.tiling
    windows = band_windows(model, blank, UpscaleOptions(tiling=tiling))
    grids = [tile_grid(model, b.last - b.first, shape[1], tiling) for b in windows]
    bands = tuple(BandGrid(b.top, b.bottom, b.first, b.last, g) for b, g in zip(windows, grids, strict=True))
    unknown = ValueMapping(0.0, 1.0)  # replaced by the raster's once its chunks are read
    return ChunkPlan(unknown, None, None, options.nodata, tiling.tta, model.scale, bands, shape[1], ((), ()))


def upscale_array(pixels: Any, model: Any, options: RasterOptions) -> Any:
    """A Dask array of H x W x C ``pixels`` upscaled by ``model`` (an :class:`SRModel`):
    the lazy result, sH x sW x C in the input's sample type, chunked like the input x scale."""
    import dask
    import dask.array as da

    from superres.cluster.dask_stats import raster_stats
    from superres.cluster.dask_tiles import upscale_chunk

    plan = _plan(pixels.shape, model, options)
    pixels = pixels.rechunk({2: -1})
    depth_y, depth_x = plan.depth
    pixels = pixels.rechunk((_at_least(pixels.chunks[0], depth_y), _at_least(pixels.chunks[1], depth_x), -1))
    stats = raster_stats(pixels, options.nodata)
    bounds = stats.bounds if options.clamp_range else None
    chunks, s = pixels.chunks[:2], model.scale
    plan = replace(plan, mapping=stats.mapping, fill=stats.fill, bounds=bounds, chunks=chunks)
    out_chunks = (tuple(c * s for c in chunks[0]), tuple(c * s for c in chunks[1]), pixels.chunks[2])
    shared_model = dask.delayed(model, name=f"superres-model-{uuid.uuid4().hex}", traverse=False)
    return da.map_overlap(
        upscale_chunk, pixels, depth={0: depth_y, 1: depth_x, 2: 0}, boundary="none", trim=False,
        chunks=out_chunks, dtype=pixels.dtype, model=shared_model, plan=plan,
    )  # fmt: skip


def upscale(
    data: Any,
    *,
    model: Any,
    scale: int | None = None,
    device: str | None = "cpu",
    options: RasterOptions | None = None,
) -> Any:
    """``data`` upscaled lazily on Dask, chunk by chunk: an xarray DataArray (rioxarray's
    band, y, x; or y, x) gives a DataArray with its coordinates, transform, CRS, no-data and
    attributes for the new pixel size (the same extent); a Dask or numpy array (2-D, or 3-D
    with its bands where ``options.bands`` says) gives a Dask array of the same layout.
    ``model``: an :class:`~superres.SRModel`, or what :func:`superres.load_model` takes (with
    ``scale`` and ``device``). Call ``.compute()``, or :func:`write_cog` to store it in chunks."""
    from superres.models import SRModel, load_model

    options = options or RasterOptions()
    if options.bands not in BAND_ORDERS:
        raise ValueError(f"bands must be 'first' or 'last', got {options.bands!r}")
    if not isinstance(model, SRModel):
        model = load_model(model or "default", scale=scale, device=device)
    if hasattr(data, "dims") and hasattr(data, "coords"):
        from superres.cluster.dask_xarray import upscale_dataarray

        return upscale_dataarray(data, model, options)
    import dask.array as da

    array = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
    if array.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D or 3-D array, got shape {array.shape}")
    first = array.ndim == 2 or options.bands == "first"
    pixels = array[None] if array.ndim == 2 else array
    result = upscale_array(pixels.transpose(1, 2, 0) if first else pixels, model, options)
    result = result.transpose(2, 0, 1) if first else result
    return result[0] if array.ndim == 2 else result
