"""Pieces shared by PLKSR/RealPLKSR, MoSR, SeemoRe and Real-CUGAN: a channels-first LayerNorm,
the DySample upsampler, reading the indices of a ``Sequential`` out of a state dict, and the
final strictness check of their ``detect`` functions (the dict holds exactly the keys and
shapes of the network detected). Not a network module (not in ``ARCH_MODULES``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an N x C x H x W tensor (mean and biased variance
    per pixel, ``eps`` inside the square root), as the ConvNeXt-style blocks write it."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def indices(state_dict: dict[str, Any], prefix: str) -> list[int]:
    """Sorted distinct integers ``i`` of the keys ``<prefix>.<i>.…``."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    found = {int(m.group(1)) for k in state_dict if isinstance(k, str) and (m := pattern.match(k))}
    return sorted(found)


def shape(state_dict: dict[str, Any], key: str) -> tuple[int, ...] | None:
    """Shape of floating-point tensor ``key``, or None when it is missing or not one."""
    tensor = state_dict.get(key)
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        return None
    return tuple(int(d) for d in tensor.shape)


def fits(
    builder: Callable[..., nn.Module],
    params: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    ignored: Callable[[str], bool] = lambda key: False,
) -> bool:
    """Whether ``builder(**params)`` (built on the meta device, nothing allocated) has exactly
    the keys and shapes of ``state_dict``, keys for which ``ignored`` holds left out on both
    sides. Any failure to build counts as no."""
    try:
        want = _shapes(builder, tuple(sorted(params.items())))
    except Exception:  # detect must never raise
        return False
    got = {k: tuple(v.shape) for k, v in state_dict.items() if not ignored(k)}
    return {k: v for k, v in want.items() if not ignored(k)} == got


@functools.lru_cache(maxsize=64)
def _shapes(builder: Callable[..., nn.Module], params: tuple) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        network = builder(**dict(params))
    return {k: tuple(v.shape) for k, v in network.state_dict().items()}


class DySample(nn.Module):
    """Learned point-sampling upsampler (Liu et al. 2023, "Learning to Upsample by Learning to
    Sample"), in the form MoSR and RealPLKSR use: per output sub-pixel, a 1x1-conv offset
    (scaled by a sigmoid "scope" and 0.5) added to the sub-pixel's base position, bilinear
    sampling with border padding, per channel group; then an optional 1x1 conv."""

    def __init__(
        self, channels: int, out_channels: int, scale: int, *, groups: int = 4, end_conv: bool = True
    ) -> None:
        super().__init__()
        if channels < groups or channels % groups:
            raise ValueError(f"DySample: {channels} channels do not split into {groups} groups")
        self.scale, self.groups = scale, groups
        points = 2 * groups * scale * scale
        if end_conv:
            self.end_conv = nn.Conv2d(channels, out_channels, 1)
        self.offset = nn.Conv2d(channels, points, 1)
        self.scope = nn.Conv2d(channels, points, 1, bias=False)
        self.register_buffer("init_pos", self._base_positions(), persistent=False)

    def _base_positions(self) -> torch.Tensor:
        """(x, y) offsets of the s x s sub-pixels from the LR pixel centre, in LR pixels,
        as 2 x (groups * s * s) values: x first (varying fastest), then y."""
        s = self.scale
        steps = (torch.arange(s, dtype=torch.float32, device="cpu") - (s - 1) / 2) / s  # not on meta
        ys, xs = torch.meshgrid(steps, steps, indexing="ij")
        return torch.stack([xs, ys]).reshape(2, 1, s * s).repeat(1, self.groups, 1).reshape(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        s, g = self.scale, self.groups
        offset = self.offset(x) * self.scope(x).sigmoid() * 0.5 + self.init_pos.to(x.dtype)
        rows = torch.arange(h, device=x.device, dtype=x.dtype) + 0.5
        cols = torch.arange(w, device=x.device, dtype=x.dtype) + 0.5
        grid_y, grid_x = torch.meshgrid(rows, cols, indexing="ij")
        base = torch.stack([grid_x, grid_y]).view(1, 2, 1, h, w)
        size = torch.tensor([w, h], device=x.device, dtype=x.dtype).view(1, 2, 1, 1, 1)
        coords = 2 * (base + offset.view(b, 2, -1, h, w)) / size - 1
        coords = nn.functional.pixel_shuffle(coords.reshape(b, -1, h, w), s)
        coords = coords.view(b, 2, g, s * h, s * w).permute(0, 2, 3, 4, 1).reshape(b * g, s * h, s * w, 2)
        out = nn.functional.grid_sample(
            x.reshape(b * g, -1, h, w), coords, mode="bilinear", align_corners=False, padding_mode="border"
        ).view(b, -1, s * h, s * w)
        return self.end_conv(out) if hasattr(self, "end_conv") else out
