"""Discriminators for GAN training. ``forward`` returns (logits, inner features); the
features serve the feature-matching loss."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm


class VGGStyleDiscriminator(nn.Module):
    """SRGAN/ESRGAN discriminator: five stride-2 stages to 4x4, then two linear layers.
    Takes crops of exactly ``input_size`` (128 in ESRGAN)."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError("input_size must be a multiple of 32")
        self.input_size = input_size
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8]
        stages: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            stages.append(
                nn.Sequential(
                    nn.Conv2d(channels, width, 3, 1, 1, bias=i == 0),
                    *([] if i == 0 else [nn.BatchNorm2d(width)]),
                    nn.LeakyReLU(0.2, inplace=True),
                    nn.Conv2d(width, width, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            channels = width
        self.stages = nn.ModuleList(stages)
        self.linear1 = nn.Linear(channels * (input_size // 32) ** 2, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"VGG-style discriminator expects {self.input_size}x{self.input_size} crops")
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        logits = self.linear2(F.leaky_relu(self.linear1(x.flatten(1)), 0.2))
        return logits, features


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm: a realism logit per pixel."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = skip_connection
        sn = spectral_norm
        self.conv0 = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(num_feat, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        x4 = x4 + x2 if self.skip_connection else x4
        x5 = act(self.conv5(up(x4)))
        x5 = x5 + x1 if self.skip_connection else x5
        x6 = act(self.conv6(up(x5)))
        x6 = x6 + x0 if self.skip_connection else x6
        out = act(self.conv8(act(self.conv7(x6))))
        return self.conv9(out), [x1, x2, x3, x4, x5, x6]


DISCRIMINATORS = {"unet": UNetDiscriminatorSN, "vgg": VGGStyleDiscriminator}


def check_discriminator(kind: str) -> None:
    from superres.errors import SuperresError

    if kind not in DISCRIMINATORS:
        raise SuperresError(f"unknown discriminator {kind!r}; choose from {', '.join(DISCRIMINATORS)}")


def build_discriminator(kind: str, **params) -> nn.Module:
    check_discriminator(kind)
    return DISCRIMINATORS[kind](**params)
