"""SPAN (Wan et al. 2024, swift parameter-free attention network; NTIRE 2024 efficient SR),
key-compatible with the official weights.

Released training checkpoints hold each re-parameterisable conv (Conv3XC) as its training
branches (``sk``: 1x1; ``conv``: 1x1 expand, 3x3, 1x1 compress) next to an ``eval_conv``.
In eval mode the official network recomputes ``eval_conv`` from the branches before every
call and runs that single 3x3 conv, so :func:`convert` folds the branches into ``eval_conv``
(ignoring the stored one) and drops them. Inference-only files (NTIRE 2024 team38's
``team38_span_ch28_slim.pth``) hold only ``eval_conv`` and load as they are.

Value range as released: the input is shifted by the DIV2K RGB mean (0.4488, 0.4371,
0.4040) and scaled by 255; the output is not shifted back (the network learnt to output
[0, 1]). Files trained with that normalisation off carry a ``no_norm`` key (neosr,
traiNNer-redux).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec

RGB_MEAN = (0.4488, 0.4371, 0.4040)
IMG_RANGE = 255.0
_BLOCKS = 6  # fixed in the official network
_CONV3XC = ("conv_1", "conv_2", *(f"block_{b}.c{i}_r" for b in range(1, _BLOCKS + 1) for i in (1, 2, 3)))
_BRANCHES = ("sk", "conv.0", "conv.1", "conv.2")


class Conv3XC(nn.Module):
    """A re-parameterised 3x3 conv, under the official module name ``eval_conv``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eval_conv(x)


class SPAB(nn.Module):
    """Three convs (SiLU between), then the parameter-free attention sigmoid(out) - 0.5
    applied to out + x. Also returns the first conv's output after its SiLU (the official
    in-place SiLU overwrites it before it is handed on)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.c1_r = Conv3XC(channels, channels)
        self.c2_r = Conv3XC(channels, channels)
        self.c3_r = Conv3XC(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out1 = F.silu(self.c1_r(x))
        out3 = self.c3_r(F.silu(self.c2_r(out1)))
        return (out3 + x) * (torch.sigmoid(out3) - 0.5), out1


class SPAN(nn.Module):
    supported_scales = (1, 2, 3, 4)

    def __init__(
        self, scale: int = 4, in_channels: int = 3, feature_channels: int = 48, norm: bool = True
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.norm = norm
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_1 = Conv3XC(in_channels, feature_channels)
        for b in range(1, _BLOCKS + 1):
            setattr(self, f"block_{b}", SPAB(feature_channels))
        self.conv_cat = nn.Conv2d(feature_channels * 4, feature_channels, 1)
        self.conv_2 = Conv3XC(feature_channels, feature_channels)
        self.upsampler = nn.Sequential(
            nn.Conv2d(feature_channels, in_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = (x - self.mean.to(x.dtype)) * IMG_RANGE
        first = self.conv_1(x)
        out = first
        for b in range(1, _BLOCKS + 1):
            out, inner = getattr(self, f"block_{b}")(out)
            if b == 1:
                out_b1 = out
        out = self.conv_cat(torch.cat([first, self.conv_2(out), out_b1, inner], 1))
        return self.upsampler(out)


def _fold(state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One 3x3 conv (weight, bias) equal to the branches of Conv3XC ``prefix`` in eval mode:
    sk (1x1, centred) + conv.2 o conv.1 o conv.0 (1x1, 3x3, 1x1), composed in float64."""

    def get(name: str) -> torch.Tensor:
        return state_dict[f"{prefix}.{name}"].double()

    w1, b1 = get("conv.0.weight")[:, :, 0, 0], get("conv.0.bias")
    w2, b2 = get("conv.1.weight"), get("conv.1.bias")
    w3, b3 = get("conv.2.weight")[:, :, 0, 0], get("conv.2.bias")
    weight = torch.einsum("ok,kmyx,mi->oiyx", w3, w2, w1)
    bias = w3 @ (w2.sum((2, 3)) @ b1 + b2) + b3
    weight[:, :, 1, 1] += get("sk.weight")[:, :, 0, 0]
    bias = bias + get("sk.bias")
    dtype = state_dict[f"{prefix}.sk.weight"].dtype
    return weight.to(dtype), bias.to(dtype)


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fold training branches into ``eval_conv`` (as the official eval mode does) and drop
    the branches and the ``no_norm`` flag."""
    out = {k: v for k, v in state_dict.items() if k != "no_norm"}
    for prefix in _CONV3XC:
        if f"{prefix}.sk.weight" not in state_dict:
            continue
        weight, bias = _fold(state_dict, prefix)
        for branch in _BRANCHES:
            out.pop(f"{prefix}.{branch}.weight", None)
            out.pop(f"{prefix}.{branch}.bias", None)
        out[f"{prefix}.eval_conv.weight"], out[f"{prefix}.eval_conv.bias"] = weight, bias
    return out


def _conv3xc_fits(state_dict: dict, prefix: str, c_in: int, c_out: int, trained: bool) -> bool:
    """Whether Conv3XC ``prefix`` has the shapes of a c_in -> c_out one (with gain 2), in the
    training form (branches) or the inference form (``eval_conv`` only)."""
    if not trained:
        return conv_shape(state_dict, f"{prefix}.eval_conv.weight") == (c_out, c_in, 3, 3)
    shapes = [conv_shape(state_dict, f"{prefix}.{b}.weight") for b in _BRANCHES]
    biases = all(isinstance(state_dict.get(f"{prefix}.{b}.bias"), torch.Tensor) for b in _BRANCHES)
    expected = [
        (c_out, c_in, 1, 1),
        (2 * c_in, c_in, 1, 1),
        (2 * c_out, 2 * c_in, 3, 3),
        (c_out, 2 * c_out, 1, 1),
    ]
    return biases and shapes == expected


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    trained = "conv_1.sk.weight" in state_dict
    head = conv_shape(state_dict, "conv_1.sk.weight" if trained else "conv_1.eval_conv.weight")
    up = conv_shape(state_dict, "upsampler.0.weight")
    if head is None or up is None or conv_shape(state_dict, "conv_cat.weight") is None:
        return None
    channels, in_channels = head[:2]
    norm = "no_norm" not in state_dict
    if norm and in_channels != 3:
        return None  # the official normalisation subtracts a 3-channel mean
    if conv_shape(state_dict, "conv_cat.weight") != (channels, 4 * channels, 1, 1) or up[1:] != (
        channels,
        3,
        3,
    ):
        return None
    if not _conv3xc_fits(state_dict, "conv_1", in_channels, channels, trained):
        return None
    if not all(_conv3xc_fits(state_dict, p, channels, channels, trained) for p in _CONV3XC[1:]):
        return None
    scale = round((up[0] / in_channels) ** 0.5)
    if scale < 1 or scale * scale * in_channels != up[0]:
        return None
    return {"scale": scale, "in_channels": in_channels, "feature_channels": channels, "norm": norm}


SPECS = (
    ArchSpec(
        "span",
        "Wan et al. 2024, swift parameter-free attention (NTIRE 2024 efficient SR)",
        SPAN,
        detect=detect,
        detect_order=61,
        convert=convert,
        proof="vector SPAN_50 to 1e-4; team38_span_ch28_slim.pth x4 Set5 31.74 dB (bicubic 28.42)",
    ),
)
