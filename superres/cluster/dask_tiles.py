"""One chunk of a Dask raster upscaled with the single-machine tiler's own tiles.

Most networks are not translation-equivariant over a tile (attention or pooling over the
tile: RLFN, IMDN, SAFMN, SwinIR, ...; ``ArchSpec.tiles_equal_whole``), so a chunk tiled on
its own would not give the tiles, nor the result, of ``superres upscale`` over the whole
raster (rlfn-s-x4: up to 5,160 of 65,535 apart). Instead every chunk runs the tiles of the
whole raster's grid (:func:`superres.engine.tiles.tile_grid`) whose blend weight reaches
into it, read from the chunk's halo (one tile deep, ``dask.array.map_overlap``), weights them
with the same ramps (:func:`~superres.engine.tiles.axis_weights`) and divides by the same
sums, so the blended result is the single-machine one up to float rounding. A tile whose
weight reaches two chunks runs in both (the price of chunks that share nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from superres.engine.options import TileOptions
from superres.engine.values import ValueMapping

Window = tuple[int, list[int]]  # tile size and starts along one axis (engine.tiles.tile_grid)


@dataclass(frozen=True)
class ChunkPlan:
    """What every chunk task needs besides its pixels and the model (small: pickled per task):
    the raster's value mapping, no-data fill and value, clamp bounds, the tile grid over the
    whole raster and its size, the chunk sizes and the halo."""

    mapping: ValueMapping
    fill: np.ndarray | None
    bounds: tuple[np.ndarray, np.ndarray] | None
    nodata: float | None
    tta: bool
    scale: int
    grid: tuple[Window, Window, int]
    size: tuple[int, int]
    chunks: tuple[tuple[int, ...], tuple[int, ...]]

    @property
    def depth(self) -> tuple[int, int]:
        """The halo: one tile each way, so each tile that reaches into a chunk is read whole."""
        return self.grid[0][0], self.grid[1][0]


def _axis_part(span: tuple[int, int], window: Window, overlap: int, length: int, scale: int) -> tuple:
    """Along one axis, for the chunk's input pixels ``span`` (start, stop): the windows whose
    weight reaches its output, as (start, weights), and their weight sum over its output."""
    import torch

    from superres.engine.tiles import axis_weights

    low, high = span[0] * scale, span[1] * scale
    total, used = torch.zeros(high - low), []
    for start, weights in zip(window[1], axis_weights(length, window, overlap, scale), strict=True):
        first, last = max(low, start * scale), min(high, (start + window[0]) * scale)
        part = weights[first - start * scale : last - start * scale]
        if first < last and bool(part.any()):
            total[first - low : last - low] += part
            used.append((start, weights))
    return used, total


def upscale_chunk(block: np.ndarray, *, model: Any, plan: ChunkPlan, block_id: tuple[int, ...]) -> np.ndarray:
    """One chunk (H x W x C with its halo) upscaled: its own pixels x scale, in the input's type."""
    import torch

    from superres.engine.channels import run_bands
    from superres.engine.values import clamp_bands, to_unit_range
    from superres.io.geotiff import is_nodata, nearest_mask

    (row, column), s = block_id[:2], plan.scale
    (h, tops), (w, lefts), overlap = plan.grid
    r0, c0 = sum(plan.chunks[0][:row]), sum(plan.chunks[1][:column])
    r1, c1 = r0 + plan.chunks[0][row], c0 + plan.chunks[1][column]
    y0, x0 = r0 - (plan.depth[0] if row else 0), c0 - (plan.depth[1] if column else 0)  # the block's origin
    missing = is_nodata(block, plan.nodata)
    data, restore = to_unit_range(np.ascontiguousarray(block), plan.mapping, missing, plan.fill)
    rows, row_sum = _axis_part((r0, r1), (h, tops), overlap, plan.size[0], s)
    columns, col_sum = _axis_part((c0, c1), (w, lefts), overlap, plan.size[1], s)
    out = torch.zeros(block.shape[2], (r1 - r0) * s, (c1 - c0) * s)
    for top, row_weight in rows:
        for left, col_weight in columns:
            tile = data[:, top - y0 : top - y0 + h, left - x0 : left - x0 + w]
            y = run_bands(model, tile, TileOptions(tile=0, tta=plan.tta), None)
            y.mul_(row_weight[:, None]).mul_(col_weight[None, :])
            a, b = max(r0, top) * s, min(r1, top + h) * s
            c, d = max(c0, left) * s, min(c1, left + w) * s
            out[:, a - r0 * s : b - r0 * s, c - c0 * s : d - c0 * s] += y[
                :, a - top * s : b - top * s, c - left * s : d - left * s
            ]
    result = restore(out.div_(row_sum[:, None]).div_(col_sum[None, :]))
    if plan.bounds is not None:
        clamp_bands(result, plan.bounds)
    if missing is not None:
        own = missing[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
        result[nearest_mask(own, *result.shape[:2])] = plan.nodata if plan.nodata is not None else np.nan
    return result
