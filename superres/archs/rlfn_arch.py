"""RLFN and RLFN-S (Kong et al., "Residual Local Feature Network for Efficient
Super-Resolution", CVPRW 2022), key-compatible with the official weights (bytedance/RLFN).

RLFN-S is RLFN with 48 feature channels instead of 52; the NTIRE 2022 entry (RLFN_Prune)
has 4 blocks and wider inner convs. All are read from the file: feature, inner and ESA
widths, block count and scale. The released networks work on values in 0..255: ``forward``
scales a [0, 1] input up and the output back down.
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


class RLFB(nn.Module):
    """Residual local feature block: three 3x3 convs with a skip, a 1x1 conv, then ESA."""

    def __init__(self, channels: int, mid_channels: int, esa_channels: int) -> None:
        super().__init__()
        self.c1_r = nn.Conv2d(channels, mid_channels, 3, padding=1)
        self.c2_r = nn.Conv2d(mid_channels, mid_channels, 3, padding=1)
        self.c3_r = nn.Conv2d(mid_channels, channels, 3, padding=1)
        self.c5 = nn.Conv2d(channels, channels, 1)
        self.esa = ESA(channels, esa_channels, full=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for conv in (self.c1_r, self.c2_r, self.c3_r):
            out = F.leaky_relu(conv(out), _SLOPE)
        return self.esa(self.c5(out + x))


class RLFN(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        feature_channels: int = 52,
        mid_channels: int | None = None,
        esa_channels: int = 16,
        num_blocks: int = 6,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.num_blocks = num_blocks
        mid = mid_channels or feature_channels
        self.conv_1 = nn.Conv2d(in_channels, feature_channels, 3, padding=1)
        for i in range(num_blocks):
            setattr(self, f"block_{i + 1}", RLFB(feature_channels, mid, esa_channels))
        self.conv_2 = nn.Conv2d(feature_channels, feature_channels, 3, padding=1)
        self.upsampler = nn.Sequential(
            nn.Conv2d(feature_channels, in_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The long skip carries the image itself: under bf16 autocast its 8-bit mantissa would
        # round it by up to half a level, so the first conv, the skip's sum and the upsampler
        # run in the weights' precision (fp32); the blocks, nearly all of the work, stay in
        # bf16. Set5/Set14 then move by at most 0.005 dB (docs/models.md, "Precision").
        dtype = self.conv_1.weight.dtype
        with torch.autocast(x.device.type, enabled=False):
            features = self.conv_1(x.to(dtype) * _RANGE)
        out = features
        for i in range(self.num_blocks):
            out = getattr(self, f"block_{i + 1}")(out)
        out = self.conv_2(out)
        with torch.autocast(x.device.type, enabled=False):
            return self.upsampler(out.to(dtype) + features) / _RANGE


def _block_count(state_dict: dict) -> int:
    """Number of blocks block_1..block_N, or 0 when they are not numbered 1..N."""
    found = {int(m.group(1)) for k in state_dict if (m := re.match(r"block_(\d+)\.", k))}
    return len(found) if found == set(range(1, len(found) + 1)) else 0


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    first, last = conv_shape(state_dict, "conv_1.weight"), conv_shape(state_dict, "conv_2.weight")
    inner = conv_shape(state_dict, "block_1.c1_r.weight")
    esa = conv_shape(state_dict, "block_1.esa.conv1.weight")
    up = conv_shape(state_dict, "upsampler.0.weight")
    num_blocks = _block_count(state_dict)
    if None in (first, last, inner, esa, up) or not num_blocks or "block_1.c5.weight" not in state_dict:
        return None
    if any(k.startswith("block_1.esa.conv_max") for k in state_dict):  # RFDN's full ESA
        return None
    feature_channels, in_channels = first[:2]
    scale = round((up[0] / in_channels) ** 0.5)
    if scale < 1 or scale * scale * in_channels != up[0] or up[1] != feature_channels:
        return None
    return {
        "scale": scale,
        "in_channels": in_channels,
        "feature_channels": feature_channels,
        "mid_channels": inner[0],
        "esa_channels": esa[0],
        "num_blocks": num_blocks,
    }


SPECS = (
    ArchSpec(
        "rlfn",
        "Kong et al. 2022, residual local feature network (RLFN, RLFN-S), NTIRE22 efficient SR",
        RLFN,
        detect=detect,
        detect_order=40,
        # ESA max-pools a strided copy and re-enlarges it to the input's size: tiles differ.
        tiles_equal_whole=False,
        # rlfn_s_x2.pth's Set14 is the exception: 33.62 against the paper's 33.68; the official
        # code gives the same output on that file (docs/networks.md).
        proof="rlfn_x2/x4, rlfn_s_x4 meet the paper's Set5/Set14*/BSD100 within 0.03 dB (*gray as RGB); "
        "rlfn_s_x2 too but Set14 (33.62, paper 33.68; the official code gives the same output)",
    ),
)
