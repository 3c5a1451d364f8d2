"""One chunk of a Dask raster upscaled with the single-machine tiler's own tiles.

Most networks are not translation-equivariant over a tile (attention or pooling over the
tile: RLFN, IMDN, SAFMN, SwinIR, ...; ``ArchSpec.tiles_equal_whole``), so a chunk tiled on
its own would not give the tiles, nor the result, of ``superres upscale`` over the whole
raster (rlfn-s-x4: up to 5,160 of 65,535 apart). Instead every chunk runs the tiles of the
whole raster's grid (:func:`superres.engine.tiles.tile_grid`; of each row band's grid where
the single-machine run goes in bands of rows, :func:`superres.engine.rows.band_windows`)
whose blend weight reaches into it, read from the chunk's halo (one tile deep,
``dask.array.map_overlap``), weights them with the same ramps
(:func:`~superres.engine.tiles.axis_weights`) and divides by the same sums, so the blended
result is the single-machine one up to float rounding. A tile whose weight reaches two
chunks runs in both (the price of chunks that share nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from superres.engine.options import TileOptions
from superres.engine.values import ValueMapping

Window = tuple[int, list[int]]  # tile size and starts along one axis (engine.tiles.tile_grid)


@dataclass(frozen=True)
class BandGrid:
    """One row band of the single-machine run (:func:`superres.engine.rows.band_windows`):
    it keeps input rows ``top`` to ``bottom`` of a run over rows ``first`` to ``last``, tiled
    by ``grid`` (row starts counted from ``first``). A raster whose output fits one band has
    one, over all of its rows."""

    top: int
    bottom: int
    first: int
    last: int
    grid: tuple[Window, Window, int]


@dataclass(frozen=True)
class ChunkPlan:
    """What every chunk task needs besides its pixels and the model (small: pickled per task):
    the raster's value mapping, no-data fill and value, clamp bounds, TTA, scale, the row
    bands with their tile grids, the raster's width and the chunk sizes."""

    mapping: ValueMapping
    fill: np.ndarray | None
    bounds: tuple[np.ndarray, np.ndarray] | None
    nodata: float | None
    tta: bool
    scale: int
    bands: tuple[BandGrid, ...]
    width: int
    chunks: tuple[tuple[int, ...], tuple[int, ...]]

    @property
    def depth(self) -> tuple[int, int]:
        """The halo: one tile each way, so each tile that reaches into a chunk is read whole."""
        return max(b.grid[0][0] for b in self.bands), max(b.grid[1][0] for b in self.bands)


def _axis_part(
    span: tuple[int, int], window: Window, overlap: int, run: tuple[int, int], scale: int
) -> tuple:
    """Along one axis, for input pixels ``span`` (start, stop) of a run over pixels ``run``
    (first, last) tiled by ``window`` (starts counted from ``first``): the windows whose weight
    reaches the span's output, as (absolute start, weights), and their weight sum over it."""
    import torch

    from superres.engine.tiles import axis_weights

    low, high = span[0] * scale, span[1] * scale
    total, used = torch.zeros(high - low), []
    for local, weights in zip(window[1], axis_weights(run[1] - run[0], window, overlap, scale), strict=True):
        start = run[0] + local
        first, last = max(low, start * scale), min(high, (start + window[0]) * scale)
        part = weights[first - start * scale : last - start * scale]
        if first < last and bool(part.any()):
            total[first - low : last - low] += part
            used.append((start, weights))
    return used, total


def _band_part(data: Any, model: Any, plan: ChunkPlan, band: BandGrid, region: tuple[int, ...]) -> Any:
    """The blended float output of input rows ``region[:2]`` and columns ``region[2:4]`` within
    ``band``, from ``data`` (C x H x W, the block) whose top-left input pixel is ``region[4:]``."""
    import torch

    from superres.engine.channels import run_bands

    (r0, r1, c0, c1, y0, x0), s = region, plan.scale
    (h, tops), (w, lefts), overlap = band.grid
    rows, row_sum = _axis_part((r0, r1), (h, tops), overlap, (band.first, band.last), s)
    columns, col_sum = _axis_part((c0, c1), (w, lefts), overlap, (0, plan.width), s)
    out = torch.zeros(data.shape[0], (r1 - r0) * s, (c1 - c0) * s)
    for top, row_weight in rows:
        for left, col_weight in columns:
            tile = data[:, top - y0 : top - y0 + h, left - x0 : left - x0 + w]
            y = run_bands(model, tile, TileOptions(tile=0, tta=plan.tta), None)
            y.mul_(row_weight[:, None]).mul_(col_weight[None, :])
            a, b = max(r0, top), min(r1, top + h)  # the input rows and columns of the tile's
            c, d = max(c0, left), min(c1, left + w)  # output that fall in the region's
            part = y[:, (a - top) * s : (b - top) * s, (c - left) * s : (d - left) * s]
            out[:, (a - r0) * s : (b - r0) * s, (c - c0) * s : (d - c0) * s] += part
    return out.div_(row_sum[:, None]).div_(col_sum[None, :])


def upscale_chunk(block: np.ndarray, *, model: Any, plan: ChunkPlan, block_id: tuple[int, ...]) -> np.ndarray:
    """One chunk (H x W x C with its halo) upscaled: its own pixels x scale, in the input's type."""
    import torch

    from superres.engine.values import clamp_bands, to_unit_range
    from superres.io.geotiff import is_nodata, nearest_mask

    (row, column), s = block_id[:2], plan.scale
    r0, c0 = sum(plan.chunks[0][:row]), sum(plan.chunks[1][:column])
    r1, c1 = r0 + plan.chunks[0][row], c0 + plan.chunks[1][column]
    y0, x0 = r0 - (plan.depth[0] if row else 0), c0 - (plan.depth[1] if column else 0)  # the block's origin
    missing = is_nodata(block, plan.nodata)
    data, restore = to_unit_range(np.ascontiguousarray(block), plan.mapping, missing, plan.fill)
    out = torch.zeros(block.shape[2], (r1 - r0) * s, (c1 - c0) * s)
    for band in plan.bands:
        low, high = max(r0, band.top), min(r1, band.bottom)
        if low < high:
            part = _band_part(data, model, plan, band, (low, high, c0, c1, y0, x0))
            out[:, (low - r0) * s : (high - r0) * s] = part
    result = restore(out)
    if plan.bounds is not None:
        clamp_bands(result, plan.bounds)
    if missing is not None:
        own = missing[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
        result[nearest_mask(own, *result.shape[:2])] = plan.nodata if plan.nodata is not None else np.nan
    return result
