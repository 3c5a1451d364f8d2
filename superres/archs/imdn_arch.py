"""IMDN (Hui et al., ACM MM 2019) and two variants from the same repository (Zheng222/IMDN),
key-compatible with the official weights:

- ``imdn``: the paper's network (IMDN_x2/x3/x4.pth).
- ``imdn_as``: IMDN_AS.pth, the real-photo model (AIM 2019 / RealSR): a x1 network that
  shrinks its input by 4 with two stride-2 convs, runs the IMDN trunk there, and
  pixel-shuffles back by 4. Its input is the LR image already enlarged to the output size
  (the RealSR LR images are), so ``forward`` enlarges by ``scale`` with MATLAB's bicubic first.
- ``imdn_rte``: model_RTE.pth (AI in RTE 2020), 89.7K parameters: a stride-2 head, six
  bias-free distillation blocks (five steps, ReLU, no attention), pixel shuffle by 2*scale.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec
from superres.resize import imresize

_SLOPE = 0.05  # the official LeakyReLU slope
_RTE_RANGE = 255.0  # model_RTE.pth works on 0..255 (Set5 x2: 35.3 dB; on 0..1 input, 17.5)


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


class IMDNAS(IMDN):
    """IMDN_AS: the IMDN trunk between a 4x-shrinking head and a 4x pixel shuffle, run on the
    input enlarged by ``scale`` (MATLAB bicubic). The file does not say which scale it was
    used at (any: the network itself is x1); 4 is the released use (RealSR x4)."""

    def __init__(
        self, scale: int = 4, in_channels: int = 3, num_feat: int = 64, num_modules: int = 6
    ) -> None:
        super().__init__(4, in_channels, num_feat, num_modules)  # the pixel shuffle is always x4
        self.scale = scale
        self.size_multiple = 4 // math.gcd(scale, 4)  # the enlarged input, a multiple of 4
        self.fea_conv = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 3, stride=2, padding=1),
            nn.LeakyReLU(_SLOPE),
            nn.Conv2d(num_feat, num_feat, 3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2] * self.scale, x.shape[-1] * self.scale
        x = imresize(x, self.scale)
        pad_h, pad_w = -height % 4, -width % 4  # the official code crops overlapping parts instead
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return super().forward(x)[..., :height, :width]


class IMDModuleLarge(nn.Module):
    """IMDN_RTE's block: five distillation steps (each keeps 1/4 of the width), a last conv
    on what remains, a 1x1 fusion of the six parts, plus the input; ReLU, no biases."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.distilled = int(channels * 0.25)
        self.remaining = channels - self.distilled
        d, r = self.distilled, self.remaining
        self.c1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.c2 = nn.Conv2d(r, channels, 3, padding=1, bias=False)
        self.c3 = nn.Conv2d(r, channels, 3, padding=1, bias=False)
        self.c4 = nn.Conv2d(r, r, 3, padding=1, bias=False)
        self.c5 = nn.Conv2d(r - d, r - d, 3, padding=1, bias=False)
        self.c6 = nn.Conv2d(d, d, 3, padding=1, bias=False)
        self.c7 = nn.Conv2d(d * 6, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.distilled
        kept = []
        out = x
        for conv in (self.c1, self.c2, self.c3, self.c4, self.c5):
            distilled, out = torch.split(F.relu(conv(out)), (d, conv.out_channels - d), dim=1)
            kept.append(distilled)
        kept.append(F.relu(self.c6(out)))
        return self.c7(torch.cat(kept, dim=1)) + x


class IMDNRTE(nn.Module):
    """IMDN_RTE: a stride-2 head, distillation blocks at half size, pixel shuffle by 2*scale.
    Odd sizes run as the official code runs them (the strided conv rounds up) and the output
    is cropped to scale x the input."""

    supported_scales = (2, 3, 4)

    def __init__(
        self, scale: int = 2, in_channels: int = 3, num_feat: int = 20, num_modules: int = 6
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.num_modules = num_modules
        self.size_multiple = 2
        self.fea_conv = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(num_feat, num_feat, 3, stride=2, padding=1, bias=False),
        )
        for i in range(num_modules):
            setattr(self, f"block{i + 1}", IMDModuleLarge(num_feat))
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 1, bias=False)
        factor = 2 * scale
        self.upsampler = nn.Sequential(
            nn.Conv2d(num_feat, in_channels * factor * factor, 3, padding=1), nn.PixelShuffle(factor)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.fea_conv(x * _RTE_RANGE)
        out = features
        for i in range(self.num_modules):
            out = getattr(self, f"block{i + 1}")(out)
        out = self.upsampler(self.LR_conv(out) + features) / _RTE_RANGE
        return out[..., : x.shape[-2] * self.scale, : x.shape[-1] * self.scale]


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


def _head(state_dict: dict[str, torch.Tensor]) -> tuple[int, int] | None:
    """(in_channels, num_feat) of a two-conv head fea_conv.0 / fea_conv.2, or None."""
    first, second = conv_shape(state_dict, "fea_conv.0.weight"), conv_shape(state_dict, "fea_conv.2.weight")
    if first is None or second is None or second[:2] != (first[0], first[0]):
        return None
    return first[1], first[0]


def detect_as(state_dict: dict[str, torch.Tensor]) -> dict | None:
    head = _head(state_dict) if is_state_dict(state_dict) else None
    up = conv_shape(state_dict, "upsampler.0.weight") if head else None
    fuse = conv_shape(state_dict, "c.0.weight") if up else None
    if head is None or up is None or fuse is None or conv_shape(state_dict, "IMDB1.c1.weight") is None:
        return None
    in_channels, num_feat = head
    num_modules = _module_count(state_dict, "IMDB")
    if "fea_conv.2.bias" not in state_dict or _scale_of(up, in_channels) != 4:
        return None
    if not num_modules or fuse[1] != num_feat * num_modules:
        return None
    # The scale is not in the file (the network is x1 on an enlarged input): the released use.
    return {"scale": 4, "in_channels": in_channels, "num_feat": num_feat, "num_modules": num_modules}


def detect_rte(state_dict: dict[str, torch.Tensor]) -> dict | None:
    head = _head(state_dict) if is_state_dict(state_dict) else None
    up = conv_shape(state_dict, "upsampler.0.weight") if head else None
    fuse = conv_shape(state_dict, "block1.c7.weight") if up else None
    if head is None or up is None or fuse is None or conv_shape(state_dict, "LR_conv.weight") is None:
        return None
    in_channels, num_feat = head
    factor = _scale_of(up, in_channels)
    num_modules = _module_count(state_dict, "block")
    if factor is None or factor % 2 or not num_modules or fuse[1] != int(num_feat * 0.25) * 6:
        return None
    scale = factor // 2  # the head halves the size
    return {"scale": scale, "in_channels": in_channels, "num_feat": num_feat, "num_modules": num_modules}


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
        proof="IMDN_x4.pth meets the paper's Set5/Set14*/BSD100 32.21/28.58/27.56 within 0.03 dB "
        "(*gray as RGB); IMDN_x2/x3.pth beat bicubic on Set5",
    ),
    ArchSpec(
        "imdn_as",
        "Hui et al. 2019, IMDN_AS: IMDN for real photos (AIM 2019, RealSR), x1 on a bicubic-enlarged input",
        IMDNAS,
        detect=detect_as,
        detect_order=43,
        tiles_equal_whole=False,  # CCA pools over the whole input
        proof="IMDN_AS.pth: sharper than bicubic on a real photo; Set5 x4 28.24 dB (bicubic 28.42)",
    ),
    ArchSpec(
        "imdn_rte",
        "Hui et al., IMDN_RTE (AI in RTE 2020): 89.7K parameters, stride-2 head, noisy-input x2",
        IMDNRTE,
        detect=detect_rte,
        detect_order=44,
        proof="model_RTE.pth (x2, 89,748 parameters): Set5 35.41 dB, bicubic 33.68",
    ),
)
