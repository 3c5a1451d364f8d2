"""GRL's attention pieces: window and anchored-stripe cosine attention with MLP position
biases, and the coordinate tables, indices and shift masks they read (computed per input
size; the official model stores them as buffers)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

_LOGIT_MAX = math.log(100.0)

Size = tuple[int, int]


def partition(x: torch.Tensor, size: Size) -> torch.Tensor:
    """(b, h, w, c) -> (b * windows, size[0] * size[1], c), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // size[0], size[0], w // size[1], size[1], c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size[0] * size[1], c)


def unpartition(windows: torch.Tensor, size: Size, h: int, w: int) -> torch.Tensor:
    c = windows.shape[-1]
    x = windows.view(-1, h // size[0], w // size[1], size[0], size[1], c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def coords_table(size: Size, down: int = 1) -> torch.Tensor:
    """(1, s0 + a0 - 1, s1 + a1 - 1, 2) log-spaced relative coordinates between a window of
    ``size`` and its anchor window (``size // down``), each axis scaled to [-8, 8] first."""
    axes = []
    for s in size:
        a = s // down
        top = s - 1 - (s - a) // 2
        axes.append(torch.arange(-(a - 1) - (s - a) // 2, top + 1, dtype=torch.float32) / top)
    table = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).unsqueeze(0) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)


def _grid(size: Size) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
    return torch.stack((ys.flatten(), xs.flatten()))


def position_index(size: Size, down: int = 1, window_to_anchor: bool = True) -> torch.Tensor:
    """Index into :func:`coords_table` for every (window pixel, anchor pixel) pair:
    (N1, N2) from the window's side, (N2, N1) from the anchor's."""
    anchor = (size[0] // down, size[1] // down)
    width = anchor[1] + size[1] - 1
    if window_to_anchor:
        first, second, offset = _grid(size), _grid(anchor), (anchor[0] - 1, anchor[1] - 1)
    else:
        first, second, offset = _grid(anchor), _grid(size), (size[0] - 1, size[1] - 1)
    rel = first[:, :, None] - second[:, None, :]
    return (rel[0] + offset[0]) * width + rel[1] + offset[1]


def _region_labels(resolution: Size, size: Size, shift: Size) -> torch.Tensor:
    """(windows, N) labels of the regions a cyclic shift by ``shift`` brings together."""
    regions = torch.zeros(1, *resolution, 1)
    rows = (slice(0, -size[0]), slice(-size[0], -shift[0]), slice(-shift[0], None))
    cols = (slice(0, -size[1]), slice(-size[1], -shift[1]), slice(-shift[1], None))
    label = 0
    for ys in rows:
        for xs in cols:
            regions[:, ys, xs, :] = label
            label += 1
    return partition(regions, size).squeeze(-1)


def _mask(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    diff = first.unsqueeze(2) - second.unsqueeze(1)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


def stripe_mask(resolution: Size, size: Size, down: int, window_to_anchor: bool) -> torch.Tensor:
    shift = (size[0] // 2, size[1] // 2)
    windows = _region_labels(resolution, size, shift)
    anchors = _region_labels(
        (resolution[0] // down, resolution[1] // down),
        (size[0] // down, size[1] // down),
        (shift[0] // down, shift[1] // down),
    )
    return _mask(windows, anchors) if window_to_anchor else _mask(anchors, windows)


def tables(resolution: Size, window: int, stripe: Size, down: int) -> dict[str, torch.Tensor]:
    """Coordinate tables, indices and masks of one input size (the official model's buffers)."""
    found = {
        "table_w": coords_table((window, window)),
        "index_w": position_index((window, window)),
        "mask_w": _mask(*[_region_labels(resolution, (window, window), (window // 2,) * 2)] * 2),
    }
    for name, size in (("sh", stripe), ("sv", stripe[::-1])):
        found[f"table_{name}"] = coords_table(size, down)
        for direction, w2a in (("a2w", False), ("w2a", True)):
            found[f"index_{name}_{direction}"] = position_index(size, down, w2a)
            found[f"mask_{name}_{direction}"] = stripe_mask(resolution, size, down, w2a)
    return found


class CPBMLP(nn.Sequential):
    def __init__(self, heads: int) -> None:
        super().__init__(nn.Linear(2, 512), nn.ReLU(inplace=True), nn.Linear(512, heads, bias=False))


class AffineTransform(nn.Module):
    """Scales a cosine attention map and adds the MLP position bias (and a shift mask)."""

    def __init__(self, heads: int) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.cpb_mlp = CPBMLP(heads)

    def forward(
        self, attn: torch.Tensor, table: torch.Tensor, index: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        bw, heads, n1, n2 = attn.shape
        attn = attn * torch.clamp(self.logit_scale, max=_LOGIT_MAX).exp()
        bias = self.cpb_mlp(table).view(-1, heads)[index.reshape(-1)].view(n1, n2, heads)
        attn = attn + 16 * torch.sigmoid(bias.permute(2, 0, 1)).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, heads, n1, n2) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(bw, heads, n1, n2)
        return attn


def cosine_attention(q, k, v, transform: AffineTransform, table_index_mask: tuple) -> torch.Tensor:
    attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
    return transform(attn, *table_index_mask).softmax(dim=-1) @ v


class WindowAttention(nn.Module):
    def __init__(self, window: int, heads: int, shift: bool) -> None:
        super().__init__()
        self.window, self.heads = window, heads
        self.shift = window // 2 if shift else 0
        self.attn_transform = AffineTransform(heads)

    def forward(self, qkv: torch.Tensor, size: Size, buffers: dict) -> torch.Tensor:
        (h, w), (b, n, c3) = size, qkv.shape
        grid = qkv.view(b, h, w, c3)
        if self.shift:
            grid = torch.roll(grid, (-self.shift, -self.shift), dims=(1, 2))
        windows = partition(grid, (self.window, self.window))
        bw, wn, _ = windows.shape
        q, k, v = windows.reshape(bw, wn, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = buffers["mask_w"] if self.shift else None
        x = cosine_attention(q, k, v, self.attn_transform, (buffers["table_w"], buffers["index_w"], mask))
        x = unpartition(x.transpose(1, 2).reshape(bw, wn, c3 // 3), (self.window, self.window), h, w)
        if self.shift:
            x = torch.roll(x, (self.shift, self.shift), dims=(1, 2))
        return x.reshape(b, n, c3 // 3)


class AnchorStripeAttention(nn.Module):
    """Stripe attention through anchors: anchors gather from the stripe, the stripe reads the anchors."""

    def __init__(self, stripe: Size, heads: int, shift: bool, down: int, kind: str) -> None:
        super().__init__()
        self.stripe, self.heads, self.shift, self.down, self.kind = stripe, heads, shift, down, kind
        self.attn_transform1 = AffineTransform(heads)
        self.attn_transform2 = AffineTransform(heads)

    def forward(self, qkv: torch.Tensor, anchor: torch.Tensor, size: Size, buffers: dict) -> torch.Tensor:
        (h, w), (b, n, c3) = size, qkv.shape
        stripe, down = self.stripe, self.down
        small = (stripe[0] // down, stripe[1] // down)
        grid = qkv.view(b, h, w, c3)
        if self.shift:
            grid = torch.roll(grid, (-(stripe[0] // 2), -(stripe[1] // 2)), dims=(1, 2))
            anchor = torch.roll(anchor, (-(stripe[0] // 2 // down), -(stripe[1] // 2 // down)), dims=(1, 2))
        windows = partition(grid, stripe)
        bw, n1, _ = windows.shape
        q, k, v = windows.reshape(bw, n1, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        anchors = partition(anchor, small)
        anchors = anchors.reshape(bw, anchors.shape[1], self.heads, -1).permute(0, 2, 1, 3)
        kind = self.kind
        table = buffers[f"table_{kind}"]
        mask_a2w = buffers[f"mask_{kind}_a2w"] if self.shift else None
        mask_w2a = buffers[f"mask_{kind}_w2a"] if self.shift else None
        x = cosine_attention(
            anchors, k, v, self.attn_transform1, (table, buffers[f"index_{kind}_a2w"], mask_a2w)
        )
        x = cosine_attention(
            q, anchors, x, self.attn_transform2, (table, buffers[f"index_{kind}_w2a"], mask_w2a)
        )
        x = unpartition(x.transpose(1, 2).reshape(bw, n1, c3 // 3), stripe, h, w)
        if self.shift:
            x = torch.roll(x, (stripe[0] // 2, stripe[1] // 2), dims=(1, 2))
        return x.reshape(b, n, c3 // 3)
