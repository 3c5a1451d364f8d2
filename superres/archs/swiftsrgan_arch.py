"""Swift-SRGAN generator (Krishnan et al. 2021), key-compatible with the released
``swift_srgan_{2,4}x.pth.tar`` checkpoints: SRGAN's layout with every convolution made
depthwise-separable (a grouped k x k convolution, then a 1 x 1 one)."""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec

StateDict = dict[str, torch.Tensor]


class SeparableConv2d(nn.Module):
    """Depthwise k x k convolution (one filter per channel), then a pointwise 1 x 1 one."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, bias: bool = True) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel, padding=kernel // 2, groups=in_ch, bias=bias)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ConvBlock(nn.Module):
    """Separable convolution, batch norm (convolution biases dropped then), PReLU.

    The released blocks all hold a PReLU, also those that do not apply it (``use_act``)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, *, use_act: bool = True, use_bn: bool = True
    ) -> None:
        super().__init__()
        self.use_act = use_act
        self.cnn = SeparableConv2d(in_ch, out_ch, kernel, bias=not use_bn)
        self.bn = nn.BatchNorm2d(out_ch) if use_bn else nn.Identity()
        self.act = nn.PReLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.cnn(x))
        return self.act(out) if self.use_act else out


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block1 = ConvBlock(channels, channels, 3)
        self.block2 = ConvBlock(channels, channels, 3, use_act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block2(self.block1(x))


class UpsampleBlock(nn.Module):
    """x2: separable convolution to 4x the channels, pixel shuffle, PReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = SeparableConv2d(channels, channels * 4, 3)
        self.ps = nn.PixelShuffle(2)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.ps(self.conv(x)))


class SwiftSRGAN(nn.Module):
    """9x9 separable head, BN residual blocks with a long skip, x2 sub-pixel stages, 9x9
    separable tail; the tail's tanh output in [-1, 1] is mapped to [0, 1] as released."""

    supported_scales = (2, 4, 8)

    def __init__(
        self, scale: int = 4, in_channels: int = 3, num_channels: int = 64, num_blocks: int = 16
    ) -> None:
        super().__init__()
        if scale not in self.supported_scales:
            raise ValueError(f"Swift-SRGAN upscales by a power of two, not {scale}")
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.initial = ConvBlock(in_channels, num_channels, 9, use_bn=False)
        self.residual = nn.Sequential(*[ResidualBlock(num_channels) for _ in range(num_blocks)])
        self.convblock = ConvBlock(num_channels, num_channels, 3, use_act=False)
        self.upsampler = nn.Sequential(*[UpsampleBlock(num_channels) for _ in range(int(math.log2(scale)))])
        self.final_conv = SeparableConv2d(num_channels, in_channels, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        initial = self.initial(x)
        features = self.convblock(self.residual(initial)) + initial
        return (torch.tanh(self.final_conv(self.upsampler(features))) + 1) / 2


def _indices(state_dict: StateDict, prefix: str, suffix: str) -> list[int]:
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.{re.escape(suffix)}$")
    return sorted(int(m.group(1)) for k in state_dict if isinstance(k, str) and (m := pattern.match(k)))


def detect(state_dict: StateDict) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    head_dw = conv_shape(state_dict, "initial.cnn.depthwise.weight")
    head_pw = conv_shape(state_dict, "initial.cnn.pointwise.weight")
    tail_pw = conv_shape(state_dict, "final_conv.pointwise.weight")
    body = conv_shape(state_dict, "convblock.cnn.pointwise.weight")
    if None in (head_dw, head_pw, tail_pw, body) or "convblock.bn.running_var" not in state_dict:
        return None
    in_channels, channels = head_dw[0], head_pw[0]
    if head_dw[1:] != (1, 9, 9) or head_pw[1] != in_channels or tail_pw[:2] != (in_channels, channels):
        return None
    blocks = _indices(state_dict, "residual", "block1.cnn.pointwise.weight")
    stages = _indices(state_dict, "upsampler", "conv.pointwise.weight")
    if blocks != list(range(len(blocks))) or not stages or stages != list(range(len(stages))):
        return None
    first_stage = conv_shape(state_dict, "upsampler.0.conv.pointwise.weight")
    if len(stages) > 3 or first_stage is None or first_stage[:2] != (4 * channels, channels):
        return None
    return {
        "scale": 2 ** len(stages),
        "in_channels": in_channels,
        "num_channels": channels,
        "num_blocks": len(blocks),
    }


def convert(state_dict: StateDict) -> StateDict:
    """Adds the batch-norm counters the x4 release lacks (they do not affect inference)."""
    converted = dict(state_dict)
    for key in state_dict:
        if key.endswith(".bn.running_mean"):
            converted.setdefault(key.replace("running_mean", "num_batches_tracked"), torch.tensor(0))
    return converted


SPECS = (
    ArchSpec(
        "swiftsrgan",
        "Krishnan et al. 2021, Swift-SRGAN: SRGAN with depthwise-separable convolutions (GAN)",
        SwiftSRGAN,
        detect=detect,
        detect_order=50,
        convert=convert,
        proof=(
            "swift_srgan_2x/4x.pth.tar match spandrel's reference outputs within 1 level; vectors "
            "SwiftSRGAN_02, _03 match to 1e-7 with batch norm in training mode, as they were made"
        ),
    ),
)
