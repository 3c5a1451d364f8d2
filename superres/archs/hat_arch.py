"""HAT (Chen et al., CVPR 2023, "Activating More Pixels in Image Super-Resolution
Transformer"), key-compatible with the official released weights (HAT, HAT-S, HAT-L and the
Real_HAT_GAN models): hybrid attention blocks (window self-attention plus a channel-attention
conv branch) and one overlapping cross-attention block per residual group."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import shape_of
from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import (
    Mlp,
    ResidualGroup,
    WindowSR,
    drop_buffers,
    fits,
    read_frame,
    square_side,
    window_partition,
    window_reverse,
    windowed,
)
from superres.archs.swinir_arch import WindowAttention

_BLOCKS = "layers.{i}.residual_group.blocks."
CONV_SCALE = 0.01  # weight of the conv branch; not in the weights, every released model uses it


class ChannelAttention(nn.Module):
    """RCAN's squeeze-and-excitation: global mean, 1x1 down, ReLU, 1x1 up, sigmoid gate."""

    def __init__(self, dim: int, squeeze_factor: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dim, dim // squeeze_factor, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim // squeeze_factor, dim, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class CAB(nn.Module):
    """Channel attention block: 3x3 to dim/compress_ratio, GELU, 3x3 back, channel attention."""

    def __init__(self, dim: int, compress_ratio: int, squeeze_factor: int) -> None:
        super().__init__()
        self.cab = nn.Sequential(
            nn.Conv2d(dim, dim // compress_ratio, 3, 1, 1),
            nn.GELU(),
            nn.Conv2d(dim // compress_ratio, dim, 3, 1, 1),
            ChannelAttention(dim, squeeze_factor),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cab(x)


class HAB(nn.Module):
    """Hybrid attention block: x + W-MSA(LN x) + conv_scale CAB(LN x), then x + MLP(LN x)."""

    def __init__(self, dim: int, num_heads: int, window: int, hidden: int, conv: dict[str, Any]) -> None:
        super().__init__()
        self.window = window
        self.conv_scale = conv["conv_scale"]
        self.branch_scales = (1.0, 1.0)  # always 1 in inference (tests: training-mode vectors)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window)
        self.conv_block = CAB(dim, conv["compress_ratio"], conv["squeeze_factor"])
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        y = self.norm1(x).reshape(b, size[0], size[1], c)
        conv = self.conv_block(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, n, c)
        attn = windowed(self.attn, y, self.window, mask).reshape(b, n, c)
        x = x + self.branch_scales[0] * attn + conv * self.conv_scale
        return x + self.branch_scales[1] * self.mlp(self.norm2(x))


def oca_index(window: int, overlap: int) -> torch.Tensor:
    """window² x overlap² index into the (window + overlap - 1)² bias table of the
    overlapping cross-attention (query window against its enlarged key window)."""
    grid = torch.arange(window)
    inner = torch.stack(torch.meshgrid(grid, grid, indexing="ij")).flatten(1)
    wide = torch.arange(overlap)
    outer = torch.stack(torch.meshgrid(wide, wide, indexing="ij")).flatten(1)
    offsets = (outer[:, None, :] - inner[:, :, None]).permute(1, 2, 0) + (window - overlap + 1)
    return offsets[..., 0] * (window + overlap - 1) + offsets[..., 1]


class OCAB(nn.Module):
    """Overlapping cross-attention: queries from each window, keys and values from the
    window enlarged by ``overlap_ratio`` (zero padded at the image border)."""

    def __init__(self, dim: int, num_heads: int, window: int, overlap_ratio: float, hidden: int) -> None:
        super().__init__()
        self.num_heads, self.window = num_heads, window
        self.overlap = int(window * overlap_ratio + 1e-6) + window
        self.scale = (dim // num_heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((window + self.overlap - 1) ** 2, num_heads)
        )
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)  # a module, so the engine's memory probe sees the maps
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)
        self.register_buffer("relative_position_index", oca_index(window, self.overlap), persistent=False)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        (h, w), (b, n, c) = size, x.shape
        ws, ow, heads = self.window, self.overlap, self.num_heads
        qkv = self.qkv(self.norm1(x)).reshape(b, h, w, 3, c).permute(3, 0, 4, 1, 2)  # 3 b c h w
        q = window_partition(qkv[0].permute(0, 2, 3, 1), ws)
        kv = F.unfold(torch.cat((qkv[1], qkv[2]), dim=1), kernel_size=ow, stride=ws, padding=(ow - ws) // 2)
        kv = kv.reshape(b, 2, c, ow * ow, -1).permute(1, 0, 4, 3, 2).reshape(2, -1, ow * ow, c)
        q = q.reshape(-1, ws * ws, heads, c // heads).transpose(1, 2)
        k, v = (t.reshape(-1, ow * ow, heads, c // heads).transpose(1, 2) for t in kv)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        attn = (q * self.scale) @ k.transpose(-2, -1) + bias.reshape(ws * ws, ow * ow, -1).permute(2, 0, 1)
        out = (self.softmax(attn) @ v).transpose(1, 2).reshape(-1, ws * ws, c)
        x = self.proj(window_reverse(out, ws, h, w).reshape(b, n, c)) + x
        return x + self.mlp(self.norm2(x))


class AttenBlocks(nn.Module):
    """A residual group's hybrid attention blocks (odd ones over shifted windows), then OCAB."""

    def __init__(self, blocks: list[HAB], overlap_attn: OCAB) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.overlap_attn = overlap_attn

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, size, mask if i % 2 else None)
        return self.overlap_attn(x, size)


class HAT(WindowSR):
    """HAT; defaults are the released HAT-SRx4 (6 groups of 6 blocks, 180 wide, window 16)."""

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        *,
        embed_dim: int = 180,
        depths: tuple[int, ...] | list[int] = (6, 6, 6, 6, 6, 6),
        num_heads: tuple[int, ...] | list[int] = (6, 6, 6, 6, 6, 6),
        window_size: int = 16,
        mlp_ratio: float = 2.0,
        compress_ratio: int = 3,
        squeeze_factor: int = 30,
        conv_scale: float = CONV_SCALE,
        overlap_ratio: float = 0.5,
        resi_connection: str = "1conv",
        upsampler: str | None = None,
        num_feat: int = 64,
        img_range: float = 1.0,
    ) -> None:
        self._hidden = int(embed_dim * mlp_ratio + 1e-6)
        self._dim, self._window, self._resi, self._overlap = (
            embed_dim,
            window_size,
            resi_connection,
            overlap_ratio,
        )
        self._conv = {
            "compress_ratio": compress_ratio,
            "squeeze_factor": squeeze_factor,
            "conv_scale": conv_scale,
        }
        super().__init__(
            scale=scale,
            in_channels=in_channels,
            embed_dim=embed_dim,
            window_size=window_size,
            depths=list(depths),
            num_heads=list(num_heads),
            resi_connection=resi_connection,
            upsampler=upsampler,
            num_feat=num_feat,
            img_range=img_range,
        )

    def make_layer(self, depth: int, num_heads: int) -> nn.Module:
        dim, window, hidden = self._dim, self._window, self._hidden
        blocks = [HAB(dim, num_heads, window, hidden, self._conv) for _ in range(depth)]
        overlap = OCAB(dim, num_heads, window, self._overlap, hidden)
        return ResidualGroup(AttenBlocks(blocks, overlap), dim, self._resi)


def _ratio(state_dict: dict[str, Any], key: str, dim: int) -> int | None:
    """dim / width of conv ``key``'s output, when that ratio gives back the width."""
    shape = shape_of(state_dict, key, 4)
    if shape is None or shape[0] > dim:
        return None
    ratio = dim // shape[0]
    return ratio if dim // ratio == shape[0] else None


def _windows(state_dict: dict[str, Any]) -> tuple[int, float] | None:
    """(window size, overlap ratio) from the self- and cross-attention bias tables."""
    block = shape_of(state_dict, f"{_BLOCKS.format(i=0)}0.attn.relative_position_bias_table", 2)
    cross = shape_of(state_dict, "layers.0.residual_group.overlap_attn.relative_position_bias_table", 2)
    side = square_side(block[0]) if block else None  # 2 window - 1
    wide = square_side(cross[0]) if cross else None  # window + overlap window - 1
    if side is None or wide is None or side % 2 == 0:
        return None
    window = (side + 1) // 2
    overlap = wide + 1 - window
    if overlap < window or (overlap - window) % 2:  # the official unfold needs an even margin
        return None
    return window, (overlap - window) / window


def detect(state_dict: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    params = read_frame(state_dict, _BLOCKS, "attn.relative_position_bias_table")
    windows = _windows(state_dict) if params is not None else None
    if params is None or windows is None:
        return None
    dim, cab = params["embed_dim"], f"{_BLOCKS.format(i=0)}0.conv_block.cab."
    compress, squeeze = (
        _ratio(state_dict, cab + "0.weight", dim),
        _ratio(state_dict, cab + "3.attention.1.weight", dim),
    )
    if compress is None or squeeze is None:
        return None
    params.update(
        window_size=windows[0],
        overlap_ratio=windows[1],
        compress_ratio=compress,
        squeeze_factor=squeeze,
        conv_scale=CONV_SCALE,
        img_range=1.0,
    )
    return params if fits(HAT, params, state_dict) else None


SPECS = (
    ArchSpec(
        "hat",
        "Chen et al. 2023, hybrid attention transformer (window + channel + overlapping cross attention)",
        HAT,
        detect=detect,
        detect_order=10,
        convert=drop_buffers,
        # Window attention over the padded tile, and channel attention pooled over the tile.
        tiles_equal_whole=False,
        proof="vectors HAT_50 (x4), HAT_51 (x2) match to 2e-7 (made in training mode: their drop path "
        "is reproduced in the test)",
    ),
)
