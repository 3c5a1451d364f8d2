"""EDSR (Lim et al., CVPRW 2017), with the key names of the official EDSR-PyTorch code.

Official checkpoints work on pixel values in [0, rgb_range] (255) and subtract the DIV2K
mean with a fixed 1x1 conv (``sub_mean``); we keep those as buffers under the same names
so official files load unchanged, and scale [0, 1] inputs to rgb_range inside forward.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Module):
    """Adds (sign=+1) or subtracts (sign=-1) the dataset mean; fixed, not trained."""

    def __init__(self, channels: int, rgb_range: float, sign: int) -> None:
        super().__init__()
        mean = torch.tensor(DIV2K_RGB_MEAN[:channels] if channels == 3 else [0.5] * channels)
        self.register_buffer("weight", torch.eye(channels).view(channels, channels, 1, 1))
        self.register_buffer("bias", sign * rgb_range * mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight, self.bias)


class ResBlock(nn.Module):
    def __init__(self, num_feat: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * self.res_scale + x


def _upsampler(num_feat: int, scale: int) -> nn.Sequential:
    """x2^n: n stages of conv(4C) + shuffle(2); x3: conv(9C) + shuffle(3)."""
    layers: list[nn.Module] = []
    if scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, padding=1), nn.PixelShuffle(3)]
    else:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, padding=1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """EDSR; baseline = 16 blocks x 64 features, res_scale 1; full = 32 x 256, res_scale 0.1."""

    supported_scales = (2, 3, 4, 8)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        res_scale: float = 1.0,
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.rgb_range = rgb_range
        self.sub_mean = MeanShift(in_channels, rgb_range, -1)
        self.add_mean = MeanShift(in_channels, rgb_range, +1)
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_feat, 3, padding=1))
        blocks: list[nn.Module] = [ResBlock(num_feat, res_scale) for _ in range(num_block)]
        blocks.append(nn.Conv2d(num_feat, num_feat, 3, padding=1))
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Sequential(_upsampler(num_feat, scale), nn.Conv2d(num_feat, in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        x = self.body(x) + x
        return self.add_mean(self.tail(x)) / self.rgb_range


# Every key of an EDSR checkpoint has one of these forms (RCAN's, with the same head/body/tail
# names, has channel-attention keys that do not).
_KEY_FORMS = re.compile(
    r"(sub_mean|add_mean|head\.0|tail\.1|tail\.0\.\d+|body\.\d+|body\.\d+\.body\.[02])\.(weight|bias)"
)


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """Official EDSR-PyTorch keys: head.0, body.N.body.{0,2}, tail.0.*, tail.1."""
    if not is_state_dict(state_dict) or not all(_KEY_FORMS.fullmatch(k) for k in state_dict):
        return None
    head = conv_shape(state_dict, "head.0.weight")
    if head is None or conv_shape(state_dict, "tail.1.weight") is None:
        return None
    num_feat, in_channels = head[:2]
    num_block = len({m.group(1) for k in state_dict if (m := re.match(r"body\.(\d+)\.body\.", k))})
    up_convs = [conv_shape(state_dict, k) for k in state_dict if re.match(r"tail\.0\.\d+\.weight", k)]
    if not up_convs or None in up_convs:
        return None
    scale = 3 if up_convs[0][0] == 9 * num_feat else 2 ** len(up_convs)
    # res_scale is not stored; the paper's convention is 0.1 for the wide model.
    return {
        "scale": scale,
        "in_channels": int(in_channels),
        "num_feat": int(num_feat),
        "num_block": num_block,
        "res_scale": 0.1 if num_feat > 64 else 1.0,
    }


SPECS = (
    ArchSpec(
        "edsr",
        "Lim et al. 2017 (baseline: 16x64, full: 32x256)",
        EDSR,
        detect=detect,
        detect_order=3,
        proof="the official EDSR-PyTorch key layout, built in tests (no released file checked here)",
    ),
)
