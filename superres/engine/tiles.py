"""Tiled inference: any image size in memory bounded by the tile, seamless output.

The image is covered by equal-size windows (at most ``tile`` LR pixels a side) that overlap
by at least ``tile_overlap`` pixels. At an inner window edge, each window's output gets zero
weight over the outer quarter of the overlap, a linear rise over its middle half, then full
weight (image borders are not ramped); the weighted outputs are averaged. Pixels where the
network lacked context get no weight, so once a quarter of the overlap covers the network's
receptive field, the tiled result equals the whole-image one up to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from superres.engine.options import TileOptions
from superres.models import SRModel

CPU_TILE_CAP = 192  # on CPU, mid-size tiles run fastest (cache-resident); see benchmarks/tiles.py
CPU_TILE_BATCH = 4  # tiles per network call on CPU: fewer, larger calls (benchmarks/video_speed.py)
DEFAULT_CPU_BUDGET = 1 << 30  # bytes of activations per tile

TileCallback = Callable[[int, int], None]


def choose_tile_size(model: SRModel, memory_budget: int | None = None) -> int:
    """Largest multiple of 16 whose estimated activations fit the budget; on CPU at most
    ``CPU_TILE_CAP``, which measured fastest (benchmarks/tiles.py). For IMDN, whose
    attention pools over the whole tile, 192-pixel tiles moved Set5/Set14 PSNR by at most
    0.006 dB (benchmarks/fast_paths.py)."""
    if memory_budget is None:
        if model.device.type == "cuda":
            memory_budget = int(torch.cuda.mem_get_info(model.device)[0] * 0.5)
        else:
            memory_budget = DEFAULT_CPU_BUDGET
    side = int(math.sqrt(memory_budget / model.activation_bytes_per_pixel))
    if model.device.type == "cpu":
        side = min(side, CPU_TILE_CAP)
    return max(16, side // 16 * 16)


def tile_batch(model: SRModel, height: int, width: int, options: TileOptions) -> int:
    """How many equal-size ``height`` x ``width`` tiles one network call takes: on CPU up to
    ``CPU_TILE_BATCH`` while their activations fit the memory budget; one elsewhere (GPU
    paths are not yet verified batched)."""
    if model.device.type != "cpu":
        return 1
    budget = options.memory_budget or DEFAULT_CPU_BUDGET
    fits = int(budget // (model.activation_bytes_per_pixel * height * width))
    return max(1, min(CPU_TILE_BATCH, fits))


def axis_windows(length: int, max_tile: int, overlap: int, *, multiple: int = 1) -> tuple[int, list[int]]:
    """Window size and starts along one axis: the fewest windows of at most ``max_tile``
    that overlap by at least ``overlap``, made equal in size and evenly spaced (so no
    window is wasted on a sliver at the end). With ``multiple`` (a network that pads its
    input to a multiple of its attention window) and a ``max_tile`` that is one, the window
    size is one too where ``length`` allows, so no tile computes on padding; rounding up only
    widens the overlap."""
    if max_tile >= length:
        return length, [0]
    count = math.ceil((length - overlap) / (max_tile - overlap))
    size = math.ceil((length - overlap) / count) + overlap
    size = min(length, math.ceil(size / multiple) * multiple)
    return size, [i * (length - size) // (count - 1) for i in range(count)]


def _ramp(length: int, overlap: int, left: bool, right: bool) -> torch.Tensor:
    """1-D blend weights of one window (output pixels): at an inner edge, zero over the
    outer quarter of the overlap, a linear rise over its middle half, then one."""
    weights = torch.ones(length)
    if overlap == 0:
        return weights
    margin, rise_len = overlap // 4, max(1, overlap - 2 * (overlap // 4))
    rise = torch.zeros(overlap)
    rise[margin : margin + rise_len] = (torch.arange(rise_len, dtype=torch.float32) + 0.5) / rise_len
    rise[margin + rise_len :] = 1
    if left:
        weights[:overlap] = torch.minimum(weights[:overlap], rise)
    if right:
        weights[-overlap:] = torch.minimum(weights[-overlap:], rise.flip(0))
    return weights


def _forward_tta(model: SRModel, x: torch.Tensor) -> torch.Tensor:
    """Average over the 8 dihedral transforms, each undone on the output."""
    total = None
    for flip in (False, True):
        for turns in range(4):
            t = torch.rot90(x.flip(-1) if flip else x, turns, (-2, -1))
            y = torch.rot90(model(t), -turns, (-2, -1))
            y = y.flip(-1) if flip else y
            total = y if total is None else total + y
    return total / 8


def _tile_grid(
    model: SRModel, height: int, width: int, options: TileOptions
) -> tuple[tuple[int, list[int]], tuple[int, list[int]], int] | None:
    """The tiles :func:`upscale_tensor` runs over a height x width input: ((tile height, tops),
    (tile width, lefts), overlap), or None when it runs the whole input at once."""
    tile = options.tile if options.tile is not None else choose_tile_size(model, options.memory_budget)
    if tile == 0 or (tile >= height and tile >= width):
        return None
    multiple = model.size_multiple
    tile = max(multiple, tile // multiple * multiple)
    overlap = max(0, min(options.tile_overlap, tile // 2))
    rows, columns = (axis_windows(n, tile, overlap, multiple=multiple) for n in (height, width))
    return rows, columns, overlap


def tile_grid(
    model: SRModel, height: int, width: int, options: TileOptions
) -> tuple[tuple[int, list[int]], tuple[int, list[int]], int]:
    """The tiles :func:`upscale_tensor` runs over a height x width input, as ((tile height,
    tops), (tile width, lefts), overlap): one tile of the whole input when it is not tiled."""
    return _tile_grid(model, height, width, options) or ((height, [0]), (width, [0]), 0)


def axis_weights(length: int, window: tuple[int, list[int]], overlap: int, scale: int) -> list[torch.Tensor]:
    """The output blend weights of each window (size, starts) along an input axis of ``length``."""
    size, starts = window
    return [_ramp(size * scale, overlap * scale, start > 0, start + size < length) for start in starts]


def tile_count(model: SRModel, height: int, width: int, options: TileOptions) -> int:
    """How many tiles :func:`upscale_tensor` runs over a height x width input."""
    grid = _tile_grid(model, height, width, options)
    return 1 if grid is None else len(grid[0][1]) * len(grid[1][1])


def upscale_tensor(
    model: SRModel,
    x: torch.Tensor,
    options: TileOptions = TileOptions(),
    on_tile: TileCallback | None = None,
) -> torch.Tensor:
    """Run ``model`` over a 1 x C x H x W float tensor in [0, 1]; returns 1 x C' x sH x sW
    float32 on the CPU (not clamped). ``on_tile(done, total)`` reports progress."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError("upscale_tensor expects a 1 x C x H x W tensor")
    forward = (lambda t: _forward_tta(model, t)) if options.tta else model
    height, width = x.shape[-2:]
    grid = _tile_grid(model, height, width, options)
    if grid is None:
        y = forward(x)
        if on_tile:
            on_tile(1, 1)
        return y.cpu()
    (h, ys), (w, xs), overlap = grid
    s = model.scale
    out = torch.zeros(1, model.out_channels, height * s, width * s)
    # The windows form a grid, so the sum of the 2-D weights is the outer product of the
    # per-axis sums: two 1-D buffers instead of a full-size weight image.
    row_sum, col_sum = torch.zeros(height * s), torch.zeros(width * s)
    row_weights, col_weights = (
        axis_weights(height, (h, ys), overlap, s),
        axis_weights(width, (w, xs), overlap, s),
    )
    for top, weight in zip(ys, row_weights, strict=True):
        row_sum[top * s : (top + h) * s] += weight
    for left, weight in zip(xs, col_weights, strict=True):
        col_sum[left * s : (left + w) * s] += weight
    windows = [
        (top, row_weight, left, col_weight)
        for top, row_weight in zip(ys, row_weights, strict=True)
        for left, col_weight in zip(xs, col_weights, strict=True)
    ]
    batch = tile_batch(model, h, w, options)
    for first in range(0, len(windows), batch):
        group = windows[first : first + batch]
        tiles = torch.cat([x[:, :, top : top + h, left : left + w] for top, _, left, _ in group])
        results = forward(tiles).cpu()
        for index, (top, row_weight, left, col_weight) in enumerate(group):
            y = results[index : index + 1]
            y.mul_(row_weight[:, None]).mul_(col_weight[None, :])
            out[:, :, top * s : (top + h) * s, left * s : (left + w) * s] += y
            if on_tile:
                on_tile(first + index + 1, len(windows))
    return out.div_(row_sum[:, None]).div_(col_sum[None, :])
