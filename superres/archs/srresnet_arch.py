"""SRResNet (Ledig et al., CVPR 2017) and MSRResNet (BasicSR's version without batch norm)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.spec import ArchSpec


def _shuffle_stages(num_feat: int, scale: int, act: type[nn.Module]) -> nn.Sequential:
    """Sub-pixel upsampling: two x2 stages for x4, one x2 or x3 stage otherwise."""
    factors = [2, 2] if scale == 4 else [scale]
    layers: list[nn.Module] = []
    for factor in factors:
        layers += [
            nn.Conv2d(num_feat, num_feat * factor * factor, 3, padding=1),
            nn.PixelShuffle(factor),
            act(num_feat) if act is nn.PReLU else act(),
        ]
    return nn.Sequential(*layers)


class _BNResidualBlock(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
            nn.BatchNorm2d(num_feat),
            nn.PReLU(num_feat),
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
            nn.BatchNorm2d(num_feat),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """Original SRResNet: 9x9 head with PReLU, 16 BN residual blocks, sub-pixel x2 stages."""

    supported_scales = (2, 3, 4)

    def __init__(self, scale: int = 4, in_channels: int = 3, num_feat: int = 64, num_block: int = 16) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_feat, 9, padding=4), nn.PReLU(num_feat))
        self.body = nn.Sequential(*[_BNResidualBlock(num_feat) for _ in range(num_block)])
        self.body_tail = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.BatchNorm2d(num_feat))
        self.upsample = _shuffle_stages(num_feat, scale, nn.PReLU)
        self.conv_last = nn.Conv2d(num_feat, in_channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        return self.conv_last(self.upsample(feat))


class _ResidualBlockNoBN(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self) -> None:
        super().__init__(0.1, inplace=True)


class MSRResNet(nn.Module):
    """Modified SRResNet (BasicSR): no BN, LeakyReLU(0.1), global bilinear skip."""

    supported_scales = (2, 3, 4)

    def __init__(self, scale: int = 4, in_channels: int = 3, num_feat: int = 64, num_block: int = 16) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[_ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        self.upsample = _shuffle_stages(num_feat, scale, _LeakyReLU)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu(self.conv_first(x), 0.1)
        feat = self.upsample(self.body(feat))
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.1))
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out + base


SPECS = (
    ArchSpec("srresnet", "Ledig et al. 2017, with batch norm and PReLU", SRResNet),
    ArchSpec("msrresnet", "BasicSR's modified SRResNet (no BN)", MSRResNet),
)
