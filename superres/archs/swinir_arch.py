"""SwinIR (Liang et al., ICCVW 2021), key-compatible with the official released weights:
classical SR ('pixelshuffle'), lightweight SR ('pixelshuffledirect'), real-world SR
('nearest+conv', x4 and x2) and denoising / JPEG artifact removal (no upsampler, x1)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import (
    BlockList,
    Mlp,
    ResidualGroup,
    WindowSR,
    add_mask,
    drop_buffers,
    fits,
    read_frame,
    relative_position_index,
    square_side,
    windowed,
)

_BLOCKS = "layers.{i}.residual_group.blocks."


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window with a learned relative position bias
    (Swin V1: SwinIR and HAT)."""

    def __init__(self, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)  # a module, so the engine's memory probe sees the maps
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        attn = add_mask(attn + bias.reshape(n, n, -1).permute(2, 0, 1).unsqueeze(0), mask)
        out = self.softmax(attn) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    """Swin V1 block: x + W-MSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, window: int, hidden: int) -> None:
        super().__init__()
        self.window = window
        self.branch_scales = (1.0, 1.0)  # always 1 in inference (tests: training-mode vectors)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        y = windowed(self.attn, self.norm1(x).reshape(b, size[0], size[1], c), self.window, mask)
        x = x + self.branch_scales[0] * y.reshape(b, n, c)
        return x + self.branch_scales[1] * self.mlp(self.norm2(x))


class SwinIR(WindowSR):
    """SwinIR; defaults are the classical x4 model (SwinIR-M: 6 groups of 6 blocks, 180 wide).

    ``img_range`` scales the mean-subtracted input: 1 for the released SR and denoising
    models, 255 for the JPEG artifact models."""

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        *,
        embed_dim: int = 180,
        depths: tuple[int, ...] | list[int] = (6, 6, 6, 6, 6, 6),
        num_heads: tuple[int, ...] | list[int] = (6, 6, 6, 6, 6, 6),
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        resi_connection: str = "1conv",
        upsampler: str | None = None,
        num_feat: int = 64,
        img_range: float = 1.0,
    ) -> None:
        self._hidden = int(embed_dim * mlp_ratio + 1e-6)
        self._dim, self._window, self._resi = embed_dim, window_size, resi_connection
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
        blocks = [SwinBlock(self._dim, num_heads, self._window, self._hidden) for _ in range(depth)]
        return ResidualGroup(BlockList(blocks), self._dim, self._resi)


def detect(state_dict: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    params = read_frame(state_dict, _BLOCKS, "attn.relative_position_bias_table")
    if params is None:
        return None
    table = state_dict[f"{_BLOCKS.format(i=0)}0.attn.relative_position_bias_table"]
    side = square_side(int(table.shape[0]))  # (2 window - 1)² rows
    if table.dim() != 2 or side is None or side % 2 == 0:
        return None
    params["window_size"] = (side + 1) // 2
    # Not in the weights: the JPEG artifact models (the only ones with window 7 and no
    # upsampler) were trained on 0..255 input; every other released model on 0..1.
    params["img_range"] = 255.0 if params["upsampler"] == "" and params["window_size"] == 7 else 1.0
    return params if fits(SwinIR, params, state_dict) else None


SPECS = (
    ArchSpec(
        "swinir",
        "Liang et al. 2021, Swin Transformer residual groups (classical, lightweight, real-world, x1)",
        SwinIR,
        detect=detect,
        detect_order=12,
        convert=drop_buffers,
        # Attention over windows whose grid starts at the tile's corner, and shifted windows
        # that wrap around the padded tile: tiles differ slightly from the whole image.
        tiles_equal_whole=False,
        proof="vectors SwinIR_50 (pixelshuffledirect), SwinIR_52 (nearest+conv) match to 5e-7 (made in "
        "training mode: their drop-path scaling is reproduced in the test)",
    ),
)
