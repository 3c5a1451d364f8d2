"""Omni-SR (Wang et al., CVPR 2023, omni self-attention), key-compatible with the official
weights.

Each OSA block runs: an MBConv; window self-attention (with a relative position bias) over
local w x w windows; a gated conv feed-forward; channel attention inside each window; a
feed-forward; the same self-attention over a sparse grid (pixels H/w apart); a feed-forward;
channel attention across the grid (over every window); a feed-forward. Blocks form groups
(OSAG) closed by a 1x1 conv and an ESA gate. The input is zero-padded to a multiple of the
window as the official network does (and to at least the size its ESA pooling needs).
The relative-position indices are recomputed (the official buffer is not persistent).
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.safmn_arch import LayerNorm2d
from superres.archs.spec import ArchSpec

HEADS = 4  # the official blocks use dim // 4 channels per head, so always four heads
_PER_BLOCK = 13  # modules in an OSA block's Sequential (four of them reshape only)


class Residual(nn.Module):
    """``fn(norm(x)) + x`` (no norm when ``norm`` is None), under the official key names."""

    def __init__(self, fn: nn.Module, norm: nn.Module | None = None) -> None:
        super().__init__()
        if norm is not None:
            self.norm = norm
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x) if hasattr(self, "norm") else x) + x


class _SpatialMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class SqueezeExcitation(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = int(dim * 0.25)
        self.gate = nn.Sequential(
            _SpatialMean(),
            nn.Linear(dim, hidden, bias=False),
            nn.SiLU(),
            nn.Linear(hidden, dim, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]


def mbconv(dim: int) -> Residual:
    """1x1 conv, GELU, depthwise 3x3, GELU, squeeze-excitation, 1x1 conv; residual."""
    return Residual(
        nn.Sequential(
            nn.Conv2d(dim, dim, 1),
            nn.GELU(),
            nn.Conv2d(dim, dim, 3, padding=1, groups=dim),
            nn.GELU(),
            SqueezeExcitation(dim),
            nn.Conv2d(dim, dim, 1),
        )
    )


class ToWindows(nn.Module):
    """N x C x H x W to N x (H/w) x (W/w) x w x w x C: local windows, or with ``grid`` the
    sparse grid whose w x w members lie H/w (W/w) pixels apart."""

    def __init__(self, window: int, grid: bool) -> None:
        super().__init__()
        self.window, self.grid = window, grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws = self.window
        if self.grid:
            return x.view(b, c, ws, h // ws, ws, w // ws).permute(0, 3, 5, 2, 4, 1)
        return x.view(b, c, h // ws, ws, w // ws, ws).permute(0, 2, 4, 3, 5, 1)


class FromWindows(ToWindows):
    """The inverse of :class:`ToWindows`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, nx, ny, w1, w2, c = x.shape
        order = (0, 5, 3, 1, 4, 2) if self.grid else (0, 5, 1, 3, 2, 4)
        return x.permute(*order).reshape(b, c, nx * w1, ny * w2)


def relative_position_index(window: int) -> torch.Tensor:
    """(w^2, w^2) indices into the (2w - 1)^2 bias table, row-major offsets."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    coords = coords.flatten(1).T  # (w^2, 2)
    rel = coords[:, None, :] - coords[None, :, :] + window - 1
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


class WindowAttention(nn.Module):
    """Multi-head self-attention within each window of a N x X x Y x w x w x C tensor."""

    def __init__(self, dim: int, window: int, with_pe: bool) -> None:
        super().__init__()
        self.scale = (dim // HEADS) ** -0.5
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim, bias=False))
        self.with_pe = with_pe
        if with_pe:
            self.rel_pos_bias = nn.Embedding((2 * window - 1) ** 2, HEADS)
            self.register_buffer("rel_pos_indices", relative_position_index(window), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        n = shape[3] * shape[4]
        windows = shape[0] * shape[1] * shape[2]  # explicit sizes, no -1: exported as computed
        tokens = x.reshape(windows, n, shape[5])
        q, k, v = (
            t.reshape(windows, n, HEADS, shape[5] // HEADS).transpose(1, 2)
            for t in self.to_qkv(tokens).chunk(3, dim=-1)
        )
        sim = (q * self.scale) @ k.transpose(-2, -1)
        if self.with_pe:
            sim = sim + self.rel_pos_bias(self.rel_pos_indices).permute(2, 0, 1)
        out = (sim.softmax(dim=-1) @ v).transpose(1, 2).reshape(windows, n, shape[5])
        return self.to_out(out).view(shape)


class ChannelAttention(nn.Module):
    """Attention between the channels of each head, with cosine similarity over the pixels
    of one window (local) or over one pixel of every window (``grid``: image-wide)."""

    def __init__(self, dim: int, window: int, grid: bool) -> None:
        super().__init__()
        self.window, self.grid = window, grid
        self.temperature = nn.Parameter(torch.ones(HEADS, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=False)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws, nx, ny = self.window, h // self.window, w // self.window
        # split: b, head, d, X, ph, Y, pw -> local (b, XY, head, d, ph pw), grid (b, ph pw, head, d, XY)
        split = (0, 4, 6, 1, 2, 3, 5) if self.grid else (0, 3, 5, 1, 2, 4, 6)
        q, k, v = (
            t.reshape(b, HEADS, c // HEADS, nx, ws, ny, ws).permute(*split).flatten(5).flatten(1, 2)
            for t in self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        )
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        out = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1) @ v
        if self.grid:
            out = out.view(b, ws, ws, HEADS, c // HEADS, nx, ny).permute(0, 3, 4, 5, 1, 6, 2)
        else:
            out = out.view(b, nx, ny, HEADS, c // HEADS, ws, ws).permute(0, 3, 4, 1, 5, 2, 6)
        return self.project_out(out.reshape(b, c, h, w))


class GatedFeedForward(nn.Module):
    """1x1 conv to 2C, depthwise 3x3, GELU(first half) x second half, 1x1 conv back."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project_in = nn.Conv2d(dim, dim * 2, 1, bias=False)
        self.dwconv = nn.Conv2d(dim * 2, dim * 2, 3, padding=1, groups=dim * 2, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class OSABlock(nn.Module):
    def __init__(self, dim: int, window: int, with_pe: bool) -> None:
        super().__init__()

        def ffn() -> Residual:
            return Residual(GatedFeedForward(dim), LayerNorm2d(dim))

        def attention(grid: bool) -> list[nn.Module]:
            return [
                ToWindows(window, grid),
                Residual(WindowAttention(dim, window, with_pe), nn.LayerNorm(dim)),
                FromWindows(window, grid),
                ffn(),
                Residual(ChannelAttention(dim, window, grid), LayerNorm2d(dim)),
                ffn(),
            ]

        self.layer = nn.Sequential(mbconv(dim), *attention(False), *attention(True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class ESA(nn.Module):
    """Enhanced spatial attention (RFANet), as trimmed by Omni-SR: a strided conv, a 7/3
    max-pool, a conv, a bilinear upsample, and a sigmoid gate on the input."""

    def __init__(self, esa_channels: int, channels: int) -> None:
        super().__init__()
        f = esa_channels
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv1(x)
        c3 = self.conv3(F.max_pool2d(self.conv2(c1), kernel_size=7, stride=3))
        c3 = F.interpolate(c3, x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1)))


class OSAG(nn.Module):
    def __init__(self, dim: int, block_num: int, window: int, with_pe: bool, bias: bool) -> None:
        super().__init__()
        blocks = [OSABlock(dim, window, with_pe) for _ in range(block_num)]
        self.residual_layer = nn.Sequential(*blocks, nn.Conv2d(dim, dim, 1, bias=bias))
        self.esa = ESA(max(dim // 4, 16), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.esa(self.residual_layer(x) + x)


class OmniSR(nn.Module):
    supported_scales = (1, 2, 3, 4)

    def __init__(  # hyper-parameters, always passed by keyword
        self,
        scale: int = 4,
        in_channels: int = 3,
        num_feat: int = 64,
        res_num: int = 5,
        block_num: int = 1,
        window_size: int = 8,
        pe: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.window_size = self.size_multiple = window_size
        self.residual_layer = nn.Sequential(
            *(OSAG(num_feat, block_num, window_size, pe, bias) for _ in range(res_num))
        )
        self.input = nn.Conv2d(in_channels, num_feat, 3, padding=1, bias=bias)
        self.output = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=bias)
        self.up = nn.Sequential(
            nn.Conv2d(num_feat, in_channels * scale * scale, 3, padding=1, bias=bias), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ws = self.window_size
        least = math.ceil(15 / ws) * ws  # ESA's stride-2 conv and 7-pixel pool need 15 pixels
        # max(least, h rounded up to ws) - h, kept symbolic for the ONNX export
        pad_h, pad_w = torch.sym_max(least - h, -h % ws), torch.sym_max(least - w, -w % ws)
        x = F.pad(x, (0, pad_w, 0, pad_h))
        residual = self.input(x)
        out = self.output(self.residual_layer(residual)) + residual
        return self.up(out)[..., : h * self.scale, : w * self.scale]


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop recomputed buffers and profiler counters (thop's total_ops / total_params)."""
    return {
        k: v
        for k, v in state_dict.items()
        if not k.endswith(("rel_pos_indices", "total_ops", "total_params"))
    }


def _count(state_dict: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in state_dict if (m := re.match(pattern, k))}
    return max(found) + 1 if found and len(found) == max(found) + 1 else 0


def _block_fits(state_dict: dict, prefix: str, dim: int) -> bool:
    """Whether the OSA block at ``prefix`` has the official shapes for ``dim`` channels."""
    checks = {
        "0.fn.0.weight": (dim, dim, 1, 1),
        "0.fn.2.weight": (dim, 1, 3, 3),
        "4.fn.project_in.weight": (2 * dim, dim, 1, 1),
        "5.fn.qkv.weight": (3 * dim, dim, 1, 1),
        "11.fn.qkv.weight": (3 * dim, dim, 1, 1),
        "12.fn.project_out.weight": (dim, dim, 1, 1),
    }
    linear = state_dict.get(f"{prefix}2.fn.to_qkv.weight")
    if not isinstance(linear, torch.Tensor) or tuple(linear.shape) != (3 * dim, dim):
        return False
    return all(conv_shape(state_dict, prefix + key) == shape for key, shape in checks.items())


def _window(state_dict: dict, prefix: str) -> tuple[int, bool] | None:
    """(window size, with position bias) from the bias table (2w - 1)^2 x heads; without a
    table the window size is not in the file: the released default, 8."""
    table = state_dict.get(f"{prefix}2.fn.rel_pos_bias.weight")
    if table is None:
        return 8, False
    if not isinstance(table, torch.Tensor) or table.dim() != 2 or table.shape[1] != HEADS:
        return None
    side = math.isqrt(int(table.shape[0]))
    if side * side != table.shape[0] or side % 2 == 0:
        return None
    return (side + 1) // 2, True


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    head = conv_shape(state_dict, "input.weight")
    up = conv_shape(state_dict, "up.0.weight")
    block = "residual_layer.0.residual_layer.0.layer."
    if head is None or up is None or head[0] % HEADS or not _block_fits(state_dict, block, head[0]):
        return None
    num_feat, in_channels = head[:2]
    window = _window(state_dict, block)
    res_num = _count(state_dict, r"residual_layer\.(\d+)\.esa\.")
    block_num = _count(state_dict, r"residual_layer\.0\.residual_layer\.(\d+)\.layer\.")
    scale = round((up[0] / in_channels) ** 0.5)
    if window is None or not res_num or not block_num or scale < 1 or scale * scale * in_channels != up[0]:
        return None
    if conv_shape(state_dict, f"residual_layer.0.residual_layer.{block_num}.weight") != (
        num_feat,
        num_feat,
        1,
        1,
    ):
        return None
    return {
        "scale": scale,
        "in_channels": in_channels,
        "num_feat": num_feat,
        "res_num": res_num,
        "block_num": block_num,
        "window_size": window[0],
        "pe": window[1],
        "bias": "input.bias" in state_dict,
    }


SPECS = (
    ArchSpec(
        "omnisr",
        "Wang et al. 2023, omni self-attention (Omni-SR)",
        OmniSR,
        detect=detect,
        detect_order=60,
        convert=convert,
        # Window padding, grid attention and channel attention span the whole (padded) input.
        tiles_equal_whole=False,
        proof="vectors OmniSR_05, OmniSR_01 match to 1e-4",
    ),
)
