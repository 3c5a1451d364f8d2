"""Rectangle-window self-attention with a dynamic relative position bias, shared by DAT
(Chen et al. 2023) and CRAFT (Li et al. 2023), both descended from CAT/CrossFormer.

Channels are split in two halves: one attends within hs x ws windows, the other within
ws x hs windows. The position bias of each head comes from a small MLP applied to every
relative offset (dy, dx) of a window (``DynamicPosBias``), looked up by a relative position
index. Offsets and indices are recomputed here, never read from a file."""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn


def window_partition(x: torch.Tensor, hs: int, ws: int) -> torch.Tensor:
    """B x C x H x W -> (B * windows) x (hs * ws) x C, windows in row-major order."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // hs, hs, w // ws, ws).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, hs * ws, c)


def window_merge(windows: torch.Tensor, hs: int, ws: int, size: tuple[int, int]) -> torch.Tensor:
    """(B * windows) x (hs * ws) x C -> B x H x W x C, the inverse of :func:`window_partition`."""
    h, w = size
    b = windows.shape[0] // ((h // hs) * (w // ws))
    x = windows.reshape(b, h // hs, w // ws, hs, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


def offset_grid(hs: int, ws: int) -> torch.Tensor:
    """Every relative offset (dy, dx) of an hs x ws window, dy major: (2hs-1)(2ws-1) x 2."""
    dy = torch.arange(1 - hs, hs, dtype=torch.float32, device="cpu")
    dx = torch.arange(1 - ws, ws, dtype=torch.float32, device="cpu")
    return torch.stack(torch.meshgrid(dy, dx, indexing="ij")).flatten(1).t().contiguous()


def relative_index(hs: int, ws: int) -> torch.Tensor:
    """Row of :func:`offset_grid` (hs, ws) for each pair of tokens of a window: N x N."""
    ys, xs = torch.meshgrid(torch.arange(hs, device="cpu"), torch.arange(ws, device="cpu"), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))
    rel = coords[:, :, None] - coords[:, None, :]
    return (rel[0] + hs - 1) * (2 * ws - 1) + rel[1] + ws - 1


def decode_index(index: object) -> tuple[int, int] | None:
    """(hs, ws) of a relative position index made by :func:`relative_index`, or None."""
    if not isinstance(index, torch.Tensor) or index.dim() != 2 or index.is_floating_point():
        return None
    n = int(index.shape[0])
    if n < 1 or index.shape[1] != n or index.dtype == torch.bool or index.is_complex():
        return None
    row = index[0].long()
    steps = [j for j in range(1, n) if int(row[j]) != int(row[0]) - j]
    ws = steps[0] if steps else n
    if n % ws or not torch.equal(index.long(), relative_index(n // ws, ws)):
        return None
    return n // ws, ws


def grid_extent(grid: object) -> tuple[int, int] | None:
    """(hs, ws) of an :func:`offset_grid` table, or None when it is not one."""
    if not isinstance(grid, torch.Tensor) or not grid.is_floating_point() or grid.dim() != 2:
        return None
    if grid.shape[0] < 1 or grid.shape[1] != 2 or not bool(torch.isfinite(grid).all()):
        return None
    hs, ws = int(grid[:, 0].max()) + 1, int(grid[:, 1].max()) + 1
    if hs < 1 or ws < 1 or (2 * hs - 1) * (2 * ws - 1) != grid.shape[0]:
        return None
    return (hs, ws) if torch.equal(grid, offset_grid(hs, ws).to(grid.dtype)) else None


@lru_cache(maxsize=32)
def _shift_mask_cpu(size: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]) -> torch.Tensor:
    h, w = size
    hs, ws = window
    labels = torch.zeros(1, 1, h, w, device="cpu")
    rows = (slice(0, -hs), slice(-hs, -shift[0]), slice(-shift[0], None))
    cols = (slice(0, -ws), slice(-ws, -shift[1]), slice(-shift[1], None))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            labels[:, :, r, c] = 3 * i + j
    windows = window_partition(labels, hs, ws).squeeze(-1)
    diff = windows[:, None, :] - windows[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


def shift_mask(size: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]) -> torch.Tensor:
    """Swin's mask for windows over a map cyclically shifted by ``shift``: -100 between tokens
    that came from different regions, 0 elsewhere; windows x N x N."""
    return _shift_mask_cpu(tuple(size), tuple(window), tuple(shift))


class DynamicPosBias(nn.Module):
    """MLP from a relative offset (dy, dx) to one bias per head (CrossFormer), non-residual:
    Linear(2, d), then three times LayerNorm, ReLU, Linear."""

    def __init__(self, pos_dim: int, num_heads: int) -> None:
        super().__init__()
        self.pos_proj = nn.Linear(2, pos_dim)
        self.pos1 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(inplace=True), nn.Linear(pos_dim, pos_dim))
        self.pos2 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(inplace=True), nn.Linear(pos_dim, pos_dim))
        self.pos3 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(inplace=True), nn.Linear(pos_dim, num_heads))

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        return self.pos3(self.pos2(self.pos1(self.pos_proj(offsets))))


class RectWindowAttention(nn.Module):
    """Multi-head attention within hs x ws windows of q, k, v given as B x H x W x C maps.
    ``table`` is the window whose offset grid feeds the position MLP (normally the window
    itself); the index always follows the window."""

    def __init__(
        self, dim: int, num_heads: int, window: tuple[int, int], table: tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window = (int(window[0]), int(window[1]))
        self.scale = (dim // num_heads) ** -0.5
        self.pos = DynamicPosBias(dim // 16, num_heads)  # the official (dim // 4) // 4
        self.register_buffer("offsets", offset_grid(*(table or self.window)), persistent=False)
        self.register_buffer("index", relative_index(*self.window), persistent=False)

    def position_bias(self) -> torch.Tensor:
        """heads x N x N bias added to the attention logits."""
        n = self.window[0] * self.window[1]
        table = self.pos(self.offsets.to(self.pos.pos_proj.weight.dtype))
        return table[self.index.view(-1)].view(n, n, -1).permute(2, 0, 1)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        windows = window_partition(x.permute(0, 3, 1, 2), *self.window)
        b, n, c = windows.shape
        return windows.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, qkv: tuple[torch.Tensor, ...], mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = (self._heads(t) for t in qkv)
        size = qkv[0].shape[1:3]
        attn = (q * self.scale) @ k.transpose(-2, -1) + self.position_bias().unsqueeze(0)
        if mask is not None:
            heads, n = attn.shape[1], attn.shape[-1]
            attn = attn.view(-1, mask.shape[0], heads, n, n) + mask.to(attn).unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        out = attn.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)
        return window_merge(out, *self.window, size)


def lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)
