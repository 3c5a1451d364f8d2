"""The seed network: superres' founding design, a pre-upsampling encoder with skips.

The LR image is first resized to the target size (MATLAB-style bicubic), then:

    conv3x3(base) + ReLU
    block: two conv3x3 + ReLU                       -> skip (taken here)
    3 x "deconv block" of width w in deconv_widths:
        conv block(w), concatenate skip, conv block(w), conv block(w)
    num_tail_blocks x conv block(tail_width)
    conv3x3 -> out channels, tanh

Every layer runs at HR resolution. The design's full widths (64; 128/256/512; 512) cost
~1 GFLOP per output pixel at x4, so the registry's default is a narrower variant
(32; 32/48/64; 64) with the same topology. Inputs are mapped to [-1, 1] for the tanh
output and back to [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from superres.archs.spec import ArchSpec
from superres.resize import imresize


def _conv_block(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True))


class DeconvBlock(nn.Module):
    """conv block, concatenate the shared skip, two more conv blocks."""

    def __init__(self, in_ch: int, width: int, skip_ch: int) -> None:
        super().__init__()
        self.pre = _conv_block(in_ch, width)
        self.post = nn.Sequential(_conv_block(width + skip_ch, width), _conv_block(width, width))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.post(torch.cat([self.pre(x), skip], dim=1))


class SeedNet(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        base_width: int = 32,
        deconv_widths: tuple[int, ...] | list[int] = (32, 48, 64),
        tail_width: int = 64,
        num_tail_blocks: int = 3,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.head = _conv_block(in_channels, base_width)
        self.first_block = nn.Sequential(
            _conv_block(base_width, base_width), _conv_block(base_width, base_width)
        )
        self.deconv_blocks = nn.ModuleList()
        width_in = base_width
        for width in deconv_widths:
            self.deconv_blocks.append(DeconvBlock(width_in, width, base_width))
            width_in = width
        tail: list[nn.Module] = []
        for _ in range(num_tail_blocks):
            tail.append(_conv_block(width_in, tail_width))
            width_in = tail_width
        self.tail = nn.Sequential(*tail)
        self.conv_last = nn.Conv2d(width_in, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = imresize(x, scale=self.scale) * 2 - 1
        skip = self.first_block(self.head(x))
        feat = skip
        for block in self.deconv_blocks:
            feat = block(feat, skip)
        return (torch.tanh(self.conv_last(self.tail(feat))) + 1) / 2


FULL_WIDTHS = {"base_width": 64, "deconv_widths": (128, 256, 512), "tail_width": 512}


SPECS = (ArchSpec("seed", "the project's founding pre-upsampling network", SeedNet),)
