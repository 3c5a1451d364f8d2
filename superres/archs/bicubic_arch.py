"""Bicubic upscaling as a weightless "network": the baseline every SR model must beat."""

from __future__ import annotations

import torch
from torch import nn

from superres.archs.spec import ArchSpec
from superres.resize import imresize


class Bicubic(nn.Module):
    """MATLAB-compatible bicubic (a = -0.5, symmetric borders); any integer scale."""

    supported_scales = (1, 2, 3, 4, 5, 6, 7, 8)

    def __init__(self, scale: int = 4, in_channels: int = 3) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, scale=self.scale)


SPECS = (ArchSpec("bicubic", "MATLAB-compatible bicubic resize (no weights)", Bicubic),)
