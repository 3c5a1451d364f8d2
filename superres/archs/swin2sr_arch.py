"""Swin2SR (Conde et al., ECCVW 2022): SwinIR's frame with Swin V2 blocks (scaled cosine
attention, a continuous relative position bias from a small MLP, post-normalisation),
key-compatible with the official released weights: classical ('pixelshuffle'), compressed
input ('pixelshuffle_aux'), lightweight ('pixelshuffledirect'), real-world ('nearest+conv')
and JPEG (no upsampler, x1)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import (
    BlockList,
    Mlp,
    ResidualGroup,
    add_mask,
    drop_buffers,
    fits,
    read_frame,
    relative_position_index,
    window_from_buffers,
    windowed,
)
from superres.archs.swinir_arch import SwinIR

_BLOCKS = "layers.{i}.residual_group.blocks."
_CPB_HIDDEN = 512  # width of the official bias MLP
_MAX_LOGIT = math.log(1.0 / 0.01)  # the official clamp of the learned attention temperature
DEFAULT_WINDOW = 8  # every released Swin2SR model but the JPEG one (7)


def relative_coords_table(window: int) -> torch.Tensor:
    """1 x (2w-1) x (2w-1) x 2 relative offsets, scaled to [-8, 8] and log-spaced (Swin V2)."""
    span = torch.arange(-(window - 1), window, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(span, span, indexing="ij")).permute(1, 2, 0).unsqueeze(0)
    table = table / (window - 1) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)


class WindowAttentionV2(nn.Module):
    """Cosine attention with a per-head learned temperature and a bias 16 sigmoid(MLP(offset))."""

    def __init__(self, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(num_heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, _CPB_HIDDEN), nn.ReLU(inplace=True), nn.Linear(_CPB_HIDDEN, num_heads, bias=False)
        )
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)  # a module, so the engine's memory probe sees the maps
        self.register_buffer("relative_coords_table", relative_coords_table(window), persistent=False)
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=_MAX_LOGIT).exp()
        table = self.cpb_mlp(self.relative_coords_table).reshape(-1, self.num_heads)
        position = table[self.relative_position_index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)
        attn = add_mask(attn + 16 * torch.sigmoid(position).unsqueeze(0), mask)
        return self.proj((self.softmax(attn) @ v).transpose(1, 2).reshape(b, n, c))


class SwinV2Block(nn.Module):
    """Swin V2 block (post-norm): x + LN(W-MSA(x)), then x + LN(MLP(x))."""

    def __init__(self, dim: int, num_heads: int, window: int, hidden: int) -> None:
        super().__init__()
        self.window = window
        self.branch_scales = (1.0, 1.0)  # always 1 in inference (tests: training-mode vectors)
        self.attn = WindowAttentionV2(dim, num_heads, window)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        y = windowed(self.attn, x.reshape(b, size[0], size[1], c), self.window, mask)
        x = x + self.branch_scales[0] * self.norm1(y.reshape(b, n, c))
        return x + self.branch_scales[1] * self.norm2(self.mlp(x))


class Swin2SR(SwinIR):
    """Swin2SR: SwinIR's constructor and frame with Swin V2 blocks and a projection in each
    residual group's patch embedding; defaults are the classical x4 model (6 groups of 6
    blocks, 180 wide, window 8 as every released model but the JPEG one, 7)."""

    patch_proj = True

    def make_layer(self, depth: int, num_heads: int) -> nn.Module:
        blocks = [SwinV2Block(self._dim, num_heads, self._window, self._hidden) for _ in range(depth)]
        return ResidualGroup(BlockList(blocks), self._dim, self._resi, proj=True)


def _window(state_dict: dict[str, Any]) -> int | None:
    """The window size, from the index or coordinate buffers the official files hold; the
    weights themselves do not depend on it (the bias comes from an MLP over offsets)."""
    prefix = f"{_BLOCKS.format(i=0)}0.attn."
    found = window_from_buffers(state_dict, prefix)
    table = state_dict.get(prefix + "relative_coords_table")
    if found is None and isinstance(table, torch.Tensor) and table.dim() == 4 and table.shape[1] % 2:
        found = (int(table.shape[1]) + 1) // 2
    if found is None and any(
        k.endswith(("relative_position_index", "relative_coords_table")) for k in state_dict
    ):
        return None  # buffers that do not say a window: not a file we understand
    return found if found is not None else DEFAULT_WINDOW


def detect(state_dict: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    params = read_frame(state_dict, _BLOCKS, "attn.cpb_mlp.2.weight")
    window = _window(state_dict) if params is not None else None
    if params is None or window is None or window < 2:
        return None
    params["window_size"] = window
    # Not in the weights: the JPEG model (window 7, no upsampler) takes 0..255 input.
    params["img_range"] = 255.0 if params["upsampler"] == "" and window == 7 else 1.0
    return params if fits(Swin2SR, params, state_dict) else None


SPECS = (
    ArchSpec(
        "swin2sr",
        "Conde et al. 2022, SwinIR with Swin V2 blocks (cosine attention, continuous bias)",
        Swin2SR,
        detect=detect,
        detect_order=11,
        convert=drop_buffers,
        # Windows and shifted windows over the padded tile: tiles differ slightly from whole.
        tiles_equal_whole=False,
        proof="vector Swin2SR_50 (pixelshuffledirect) matches to 7e-7 (made in training mode: its drop "
        "path is reproduced in the test)",
    ),
)
