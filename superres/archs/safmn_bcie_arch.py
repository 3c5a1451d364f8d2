"""SAFMN-BCIE (Sun et al., NTIRE 2024 bitstream-corrupted image enhancement): SAFMN blocks
run at half resolution behind a pixel unshuffle; the output has the input's size (scale 1).
Key-compatible with the official weights."""

from __future__ import annotations

import torch
from torch import nn

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.safmn_arch import AttBlock, block_count, block_widths, hidden_channels, pad_to
from superres.archs.spec import ArchSpec


class BasicLayer(nn.Module):
    """``num_layers`` SAFMN blocks and a 3x3 conv, with a residual around them."""

    def __init__(self, dim: int, hidden: int, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(AttBlock(dim, hidden) for _ in range(num_layers)))
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.layers(x)) + x


class SAFMNBCIE(nn.Module):
    """Pixel unshuffle by ``factor`` and a conv; ``n_blocks`` layers of SAFMN blocks with a
    long skip; a conv, pixel shuffle back, and a conv to the image. The official network
    needs sides that are multiples of ``factor`` and at least 8 x ``factor`` (its coarsest
    pooling): other sizes are edge-padded and the output cropped."""

    supported_scales = (1,)

    def __init__(
        self,
        scale: int = 1,
        in_channels: int = 3,
        dim: int = 32,
        n_blocks: int = 6,
        num_layers: int = 6,
        ffn_scale: float = 2.0,
        factor: int = 2,
    ) -> None:
        super().__init__()
        if scale != 1:
            raise ValueError(f"SAFMN-BCIE keeps the input size (scale 1), not x{scale}")
        self.scale = 1
        self.factor = factor
        self.in_channels = self.out_channels = in_channels
        self.size_multiple = factor
        hidden = hidden_channels(dim, ffn_scale)
        self.to_feat = nn.Sequential(
            nn.PixelUnshuffle(factor), nn.Conv2d(in_channels * factor**2, dim, 3, padding=1)
        )
        self.feats = nn.Sequential(*(BasicLayer(dim, hidden, num_layers) for _ in range(n_blocks)))
        self.to_img = nn.Sequential(
            nn.Conv2d(dim, dim * factor**2, 3, padding=1),
            nn.PixelShuffle(factor),
            nn.Conv2d(dim, in_channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to(x, self.factor, 8 * self.factor)
        x = self.to_feat(x)
        x = self.feats(x) + x
        return self.to_img(x)[..., :h, :w]


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    head = conv_shape(state_dict, "to_feat.1.weight") if is_state_dict(state_dict) else None
    up = conv_shape(state_dict, "to_img.0.weight") if head else None
    last = conv_shape(state_dict, "to_img.2.weight") if up else None
    if head is None or up is None or last is None or head[2:] != (3, 3):
        return None
    dim, in_channels = head[0], last[0]
    factor = round((head[1] / in_channels) ** 0.5)
    if factor < 1 or factor * factor * in_channels != head[1] or up != (dim * factor * factor, dim, 3, 3):
        return None
    if last != (in_channels, dim, 3, 3) or conv_shape(state_dict, "feats.0.conv.weight") != (dim, dim, 3, 3):
        return None
    n_blocks = block_count(state_dict, "feats.")
    num_layers = block_count(state_dict, "feats.0.layers.")
    hidden = block_widths(state_dict, "feats.0.layers.0.", dim, bias=True) if num_layers else None
    if hidden is None or "feats.0.layers.0.norm1.weight" not in state_dict:
        return None
    return {
        "scale": 1,
        "in_channels": in_channels,
        "dim": dim,
        "n_blocks": n_blocks,
        "num_layers": num_layers,
        "ffn_scale": hidden / dim,
        "factor": factor,
    }


SPECS = (
    ArchSpec(
        "safmn_bcie",
        "SAFMN for NTIRE 2024 bitstream-corrupted image enhancement (scale 1)",
        SAFMNBCIE,
        detect=detect,
        detect_order=65,
        tiles_equal_whole=False,  # SAFM pools each tile to a fraction of its own size
        proof="vector SAFMNBCIE_02 matches to 1e-4",
    ),
)
