"""Tiled inference: any image size in memory bounded by the tile, seamless output.

The image is covered by equal-size windows (``tile`` LR pixels square) that overlap by at
least ``tile_overlap`` pixels. Each window's output is weighted by a ramp that rises from
near 0 at an inner window edge to 1 after ``tile_overlap`` pixels (image borders are not
ramped) and the weighted outputs are averaged. Pixels near a window edge, where the
network lacked context, get little weight, so once the overlap exceeds the network's
receptive field the tiled result equals the whole-image one up to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from superres.models import SRModel

CPU_TILE_CAP = 128  # on CPU, small tiles run faster (cache-resident); see benchmarks/tiles.py
DEFAULT_OVERLAP = 16
DEFAULT_CPU_BUDGET = 1 << 30  # bytes of activations per tile


@dataclass(frozen=True)
class TileOptions:
    tile: int | None = None  # LR pixels; None = choose from the memory budget; 0 = no tiling
    tile_overlap: int = DEFAULT_OVERLAP
    tta: bool = False  # x8 self-ensemble (flips and 90-degree rotations)
    memory_budget: int | None = None  # bytes; None = 1 GiB on CPU, half the free memory on GPU


def _activation_bytes_per_pixel(model: SRModel) -> float:
    """Peak activation bytes per LR input pixel, estimated from a 16 x 16 probe run:
    three times the largest single activation (input, output and a concat in flight)."""
    largest = 0

    def hook(_module, _inputs, output) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel())

    handles = [m.register_forward_hook(hook) for m in model.network.modules() if not list(m.children())]
    try:
        model(torch.zeros(1, model.in_channels, 16, 16))
    finally:
        for handle in handles:
            handle.remove()
    bytes_per_value = 4 if model.precision == "fp32" else 2
    largest = max(largest, model.out_channels * 256 * model.scale**2)
    return 3 * largest * bytes_per_value / 256


def choose_tile_size(model: SRModel, memory_budget: int | None = None) -> int:
    """Largest multiple of 16 whose estimated activations fit the budget. On CPU at most
    ``CPU_TILE_CAP``, which measured fastest, except for networks that pool over the
    whole input (``global_pooling``, e.g. IMDN): tiles change their output, so they get
    the largest tile the budget allows."""
    if memory_budget is None:
        if model.device.type == "cuda":
            memory_budget = int(torch.cuda.mem_get_info(model.device)[0] * 0.5)
        else:
            memory_budget = DEFAULT_CPU_BUDGET
    side = int(math.sqrt(memory_budget / _activation_bytes_per_pixel(model)))
    if model.device.type == "cpu" and not getattr(model.network, "global_pooling", False):
        side = min(side, CPU_TILE_CAP)
    return max(16, side // 16 * 16)


def _window_starts(length: int, tile: int, overlap: int) -> list[int]:
    if tile >= length:
        return [0]
    stride = tile - overlap
    count = math.ceil((length - overlap) / stride)
    return sorted({min(i * stride, length - tile) for i in range(count)})


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


def upscale_tensor(
    model: SRModel,
    x: torch.Tensor,
    options: TileOptions = TileOptions(),
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run ``model`` over a 1 x C x H x W float tensor in [0, 1]; returns 1 x C' x sH x sW
    float32 on the CPU (not clamped). ``on_tile(done, total)`` reports progress."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError("upscale_tensor expects a 1 x C x H x W tensor")
    forward = (lambda t: _forward_tta(model, t)) if options.tta else model
    height, width = x.shape[-2:]
    tile = options.tile if options.tile is not None else choose_tile_size(model, options.memory_budget)
    if tile == 0 or (tile >= height and tile >= width):
        y = forward(x)
        if on_tile:
            on_tile(1, 1)
        return y.cpu()
    overlap = max(0, min(options.tile_overlap, tile // 2))
    s = model.scale
    ys, xs = _window_starts(height, tile, overlap), _window_starts(width, tile, overlap)
    out = torch.zeros(1, model.out_channels, height * s, width * s)
    weight_sum = torch.zeros(1, 1, height * s, width * s)
    total, done = len(ys) * len(xs), 0
    for top in ys:
        h = min(tile, height - top)
        row_weight = _ramp(h * s, overlap * s, top > 0, top + h < height)
        for left in xs:
            w = min(tile, width - left)
            col_weight = _ramp(w * s, overlap * s, left > 0, left + w < width)
            y = forward(x[:, :, top : top + h, left : left + w]).cpu()
            weight = row_weight[:, None] * col_weight[None, :]
            region = (
                slice(None),
                slice(None),
                slice(top * s, (top + h) * s),
                slice(left * s, (left + w) * s),
            )
            out[region] += y * weight
            weight_sum[region] += weight
            done += 1
            if on_tile:
                on_tile(done, total)
    return out / weight_sum
