"""SRCNN (Dong et al., ECCV 2014): three convolutions on a bicubic-upscaled image."""

from __future__ import annotations

import torch
from torch import nn

from superres.archs.spec import ArchSpec
from superres.resize import imresize


class SRCNN(nn.Module):
    """9-1-5 SRCNN with 'same' padding so the output keeps the upscaled size.

    The paper trains on the Y channel (``in_channels=1``); RGB works the same way.
    The bicubic pre-upscaling is part of ``forward`` so every network maps LR -> HR.
    """

    supported_scales = (2, 3, 4)

    def __init__(self, scale: int = 4, in_channels: int = 3, num_feat: int = 64, num_feat2: int = 32) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, num_feat, 9, padding=4)
        self.conv2 = nn.Conv2d(num_feat, num_feat2, 1)
        self.conv3 = nn.Conv2d(num_feat2, in_channels, 5, padding=2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = imresize(x, scale=self.scale)
        return self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))


SPECS = (ArchSpec("srcnn", "Dong et al. 2014, 9-1-5 on a bicubic-upscaled input", SRCNN),)
