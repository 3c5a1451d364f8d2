"""ESPCN (Shi et al., CVPR 2016): features in LR space, sub-pixel convolution at the end."""

from __future__ import annotations

import torch
from torch import nn

from superres.archs.spec import ArchSpec


class ESPCN(nn.Module):
    """conv5x5(64)-tanh, conv3x3(32)-tanh, conv3x3(C*r^2), pixel shuffle."""

    supported_scales = (2, 3, 4, 8)

    def __init__(self, scale: int = 4, in_channels: int = 3, num_feat: int = 64, num_feat2: int = 32) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(num_feat, num_feat2, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(num_feat2, in_channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


SPECS = (ArchSpec("espcn", "Shi et al. 2016, sub-pixel convolution", ESPCN),)
