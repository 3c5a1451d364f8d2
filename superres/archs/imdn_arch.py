"""IMDN (Hui et al., ACM MM 2019), key-compatible with the official weights."""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec

_SLOPE = 0.05  # the official LeakyReLU slope


class CCALayer(nn.Module):
    """Channel attention driven by per-channel mean + standard deviation."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return x * self.conv_du(std + mean)


class IMDModule(nn.Module):
    """Three distillation steps keep 1/4 of the channels each; the rest goes on."""

    def __init__(self, channels: int, distillation_rate: float = 0.25) -> None:
        super().__init__()
        self.distilled = int(channels * distillation_rate)
        self.remaining = channels - self.distilled
        self.c1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.c2 = nn.Conv2d(self.remaining, channels, 3, padding=1)
        self.c3 = nn.Conv2d(self.remaining, channels, 3, padding=1)
        self.c4 = nn.Conv2d(self.remaining, self.distilled, 3, padding=1)
        self.c5 = nn.Conv2d(self.distilled * 4, channels, 1)
        self.cca = CCALayer(self.distilled * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = []
        out = x
        for conv in (self.c1, self.c2, self.c3):
            distilled, out = torch.split(
                F.leaky_relu(conv(out), _SLOPE), (self.distilled, self.remaining), dim=1
            )
            kept.append(distilled)
        kept.append(self.c4(out))
        return self.c5(self.cca(torch.cat(kept, dim=1))) + x


class IMDN(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self, scale: int = 4, in_channels: int = 3, num_feat: int = 64, num_modules: int = 6
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.num_modules = num_modules
        self.fea_conv = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        for i in range(num_modules):
            setattr(self, f"IMDB{i + 1}", IMDModule(num_feat))
        self.c = nn.Sequential(
            nn.Conv2d(num_feat * num_modules, num_feat, 1), nn.LeakyReLU(_SLOPE, inplace=True)
        )
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upsampler = nn.Sequential(
            nn.Conv2d(num_feat, in_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.fea_conv(x)
        outputs = []
        out = features
        for i in range(self.num_modules):
            out = getattr(self, f"IMDB{i + 1}")(out)
            outputs.append(out)
        out = self.LR_conv(self.c(torch.cat(outputs, dim=1))) + features
        return self.upsampler(out)


def _module_count(state_dict: dict, prefix: str) -> int:
    """Number of modules ``{prefix}1``..``{prefix}N``, or 0 when they are not numbered 1..N."""
    found = {int(m.group(1)) for k in state_dict if (m := re.match(rf"{prefix}(\d+)\.", k))}
    return len(found) if found == set(range(1, len(found) + 1)) else 0


def _scale_of(up: tuple[int, ...], in_channels: int) -> int | None:
    """The pixel-shuffle factor of an upsampler conv of ``up`` shape, or None."""
    scale = round((up[0] / in_channels) ** 0.5)
    return scale if scale >= 1 and scale * scale * in_channels == up[0] else None


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    first = conv_shape(state_dict, "fea_conv.weight") if is_state_dict(state_dict) else None
    up = conv_shape(state_dict, "upsampler.0.weight") if first else None
    fuse = conv_shape(state_dict, "c.0.weight") if up else None
    if first is None or up is None or fuse is None or conv_shape(state_dict, "IMDB1.c1.weight") is None:
        return None
    num_feat, in_channels = first[:2]
    num_modules = _module_count(state_dict, "IMDB")
    scale = _scale_of(up, in_channels)
    if scale is None or not num_modules or fuse[1] != num_feat * num_modules:
        return None
    return {
        "scale": scale,
        "in_channels": int(in_channels),
        "num_feat": int(num_feat),
        "num_modules": num_modules,
    }


SPECS = (
    ArchSpec(
        "imdn",
        "Hui et al. 2019, information multi-distillation",
        IMDN,
        detect=detect,
        detect_order=2,
        # The channel attention (CCA) pools over the whole input: tiles move single pixels by
        # tens of grey levels; 192-pixel tiles moved Set5/Set14 PSNR by at most 0.006 dB.
        tiles_equal_whole=False,
    ),
)
