"""RFDN (Liu et al., "Residual Feature Distillation Network for Lightweight Image
Super-Resolution", ECCVW 2020), key-compatible with the official weights (njulj/RFDN).

The AIM 2020 efficient-SR entry (RFDN_AIM.pth) has 50 channels and 4 blocks; the paper's
RFDN 48 channels and 6 blocks. Channels, distilled channels, ESA width, block count and
scale are all read from the file. The released networks (trained in the EDSR framework) work
on values in 0..255: ``forward`` scales a [0, 1] input up and the output back down.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.esa_blocks import ESA
from superres.archs.spec import ArchSpec

_SLOPE = 0.05  # the official LeakyReLU slope
_RANGE = 255.0  # the released weights expect pixel values in 0..255


class RFDB(nn.Module):
    """Residual feature distillation block: at each of three steps a 1x1 conv distils
    ``distilled`` channels and a 3x3 conv with a skip (shallow residual block) refines the
    rest; a last 3x3 conv, a 1x1 fusion of the four parts, then ESA."""

    def __init__(self, channels: int, distilled: int, esa_channels: int) -> None:
        super().__init__()
        for step in (1, 2, 3):
            setattr(self, f"c{step}_d", nn.Conv2d(channels, distilled, 1))
            setattr(self, f"c{step}_r", nn.Conv2d(channels, channels, 3, padding=1))
        self.c4 = nn.Conv2d(channels, distilled, 3, padding=1)
        self.c5 = nn.Conv2d(distilled * 4, channels, 1)
        self.esa = ESA(channels, esa_channels, full=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = []
        out = x
        for step in (1, 2, 3):
            kept.append(F.leaky_relu(getattr(self, f"c{step}_d")(out), _SLOPE))
            out = F.leaky_relu(getattr(self, f"c{step}_r")(out) + out, _SLOPE)
        kept.append(F.leaky_relu(self.c4(out), _SLOPE))
        return self.esa(self.c5(torch.cat(kept, dim=1)))


class RFDN(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        num_feat: int = 50,
        num_modules: int = 4,
        distilled: int | None = None,
        esa_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.num_modules = num_modules
        distilled = distilled or num_feat // 2  # the official widths
        esa_channels = esa_channels or num_feat // 4
        self.fea_conv = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        for i in range(num_modules):
            setattr(self, f"B{i + 1}", RFDB(num_feat, distilled, esa_channels))
        self.c = nn.Sequential(nn.Conv2d(num_feat * num_modules, num_feat, 1), nn.LeakyReLU(_SLOPE))
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upsampler = nn.Sequential(
            nn.Conv2d(num_feat, in_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.fea_conv(x * _RANGE)
        outputs = []
        out = features
        for i in range(self.num_modules):
            out = getattr(self, f"B{i + 1}")(out)
            outputs.append(out)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outputs, dim=1))) + features) / _RANGE


def _module_count(state_dict: dict) -> int:
    """Number of blocks B1..BN, or 0 when they are not numbered 1..N."""
    found = {int(m.group(1)) for k in state_dict if (m := re.match(r"B(\d+)\.", k))}
    return len(found) if found == set(range(1, len(found) + 1)) else 0


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    first, fuse = conv_shape(state_dict, "fea_conv.weight"), conv_shape(state_dict, "c.0.weight")
    distil = conv_shape(state_dict, "B1.c1_d.weight")
    esa = conv_shape(state_dict, "B1.esa.conv1.weight")
    up = conv_shape(state_dict, "upsampler.0.weight")
    num_modules = _module_count(state_dict)
    if None in (first, fuse, distil, esa, up) or "B1.esa.conv_max.weight" not in state_dict:
        return None
    num_feat, in_channels = first[:2]
    scale = round((up[0] / in_channels) ** 0.5)
    if scale < 1 or scale * scale * in_channels != up[0]:
        return None
    if not num_modules or fuse[1] != num_feat * num_modules:
        return None
    return {
        "scale": scale,
        "in_channels": in_channels,
        "num_feat": num_feat,
        "num_modules": num_modules,
        "distilled": distil[0],
        "esa_channels": esa[0],
    }


SPECS = (
    ArchSpec(
        "rfdn",
        "Liu et al. 2020, residual feature distillation network (AIM 2020 efficient SR winner)",
        RFDN,
        detect=detect,
        detect_order=42,
        # ESA max-pools a strided copy and re-enlarges it to the input's size: tiles differ.
        tiles_equal_whole=False,
        proof="RFDN_AIM.pth (x4): Set5 32.16 dB, bicubic 28.42 (no published bicubic-protocol number)",
    ),
)
