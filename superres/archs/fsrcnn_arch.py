"""FSRCNN (Dong et al., ECCV 2016): shrink, map, expand in LR space, then a deconvolution."""

from __future__ import annotations

import torch
from torch import nn

from superres.archs.spec import ArchSpec


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m): d=56, s=12, m=4 is the paper's model; d=32, s=5, m=1 is FSRCNN-s."""

    supported_scales = (2, 3, 4)

    def __init__(self, scale: int = 4, in_channels: int = 3, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, d, 5, padding=2), nn.PReLU(d)]
        layers += [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(d, in_channels, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.body(x))


SPECS = (ArchSpec("fsrcnn", "Dong et al. 2016, hourglass + deconvolution", FSRCNN),)
