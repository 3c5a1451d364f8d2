"""MoSR ("Mamba Out Super-Resolution", the neosr / OpenModelDB network), key-compatible with
its released checkpoints.

A chain of MambaOut gated-CNN blocks (channel LayerNorm; 3x3 conv to 2 x hidden channels split
into gate, identity part and a depthwise k x k conv part; Mish gate; 3x3 conv back; Mish; the
block adds its input minus 0.5), then conv3x3 to 2C, Mish, conv3x3, Mish, conv1x1. A shortcut
(conv3x3, Mish, conv3x3, Mish plus a 1x1 conv of the input) minus 0.5 is added before the
upsampler: pixel shuffle (``ps``), a pixel shuffle of the mean of 8 predictions (``gps``) or
DySample (``dys``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.misc_common import ChannelLayerNorm, DySample, fits, indices
from superres.archs.spec import ArchSpec


class GatedCNNBlock(nn.Module):
    def __init__(self, dim: int, hidden: int, conv_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(dim)
        self.fc1 = nn.Conv2d(dim, hidden * 2, 3, padding=1)
        self.split = (hidden, hidden - conv_channels, conv_channels)
        self.conv = nn.Conv2d(
            conv_channels, conv_channels, kernel_size, padding=kernel_size // 2, groups=conv_channels
        )
        self.fc2 = nn.Conv2d(hidden, dim, 3, padding=1)
        self.act = nn.Mish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, kept, convolved = torch.split(self.fc1(self.norm(x)), self.split, dim=1)
        mixed = self.act(gate) * torch.cat([kept, self.conv(convolved)], dim=1)
        return self.act(self.fc2(mixed)) + (x - 0.5)


class ConvShortcut(nn.Module):
    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, dim, 3, padding=1),
            nn.Mish(),
            nn.Conv2d(dim, dim, 3, padding=1),
            nn.Mish(),
        )
        self.conv11 = nn.Conv2d(in_channels, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.conv11(x)


class GeoEnsembleShuffle(nn.Module):
    """``gps``: one conv predicts 8 candidate sub-pixel sets; their mean is pixel-shuffled."""

    def __init__(self, dim: int, scale: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.in_to_k = nn.Conv2d(dim, scale * scale * out_channels * 8, kernel_size, padding=kernel_size // 2)
        self.ps = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.in_to_k(x)
        return self.ps(y.reshape(y.shape[0], 8, -1, *y.shape[-2:]).mean(dim=1))


class MoSR(nn.Module):
    supported_scales = (1, 2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        dim: int = 64,
        n_block: int = 24,
        *,
        upsampler: str = "ps",
        out_channels: int | None = None,
        kernel_size: int = 7,
        hidden: int | None = None,
        conv_channels: int | None = None,
    ) -> None:
        super().__init__()
        if upsampler not in ("ps", "gps", "dys"):
            raise ValueError(f"MoSR: unknown upsampler {upsampler!r}")
        hidden = int(1.5 * dim) if hidden is None else hidden  # released default expansion 1.5
        conv_channels = dim if conv_channels is None else conv_channels
        out_channels = in_channels if upsampler != "dys" or out_channels is None else out_channels
        self.scale, self.in_channels, self.out_channels = scale, in_channels, out_channels
        self.gblocks = nn.Sequential(
            nn.Conv2d(in_channels, dim, 3, padding=1),
            *[GatedCNNBlock(dim, hidden, conv_channels, kernel_size) for _ in range(n_block)],
            nn.Conv2d(dim, dim * 2, 3, padding=1),
            nn.Mish(),
            nn.Conv2d(dim * 2, dim, 3, padding=1),
            nn.Mish(),
            nn.Conv2d(dim, dim, 1),
        )
        self.shortcut = ConvShortcut(in_channels, dim)
        if upsampler == "ps":
            self.upsampler = nn.Sequential(
                nn.Conv2d(dim, out_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
            )
        elif upsampler == "gps":
            self.upsampler = GeoEnsembleShuffle(dim, scale, out_channels)
        else:
            self.upsampler = DySample(dim, out_channels, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsampler(self.gblocks(x) + (self.shortcut(x) - 0.5))


def _upsampler(state_dict: dict, in_channels: int) -> dict | None:
    """Upsampler kind, scale and output channels from the upsampler's convs."""
    ps = conv_shape(state_dict, "upsampler.0.weight")
    gps = conv_shape(state_dict, "upsampler.in_to_k.weight")
    dys = conv_shape(state_dict, "upsampler.offset.weight")
    end = conv_shape(state_dict, "upsampler.end_conv.weight")
    if ps is not None:
        kind, out_channels, scale = "ps", in_channels, math.isqrt(ps[0] // in_channels)
    elif gps is not None:
        kind, out_channels, scale = "gps", in_channels, math.isqrt(gps[0] // (8 * in_channels))
    elif dys is not None and end is not None:
        kind, out_channels, scale = "dys", end[0], math.isqrt(dys[0] // 8)  # 2 x 4 groups x s^2
    else:
        return None
    if scale < 1:
        return None
    return {"upsampler": kind, "out_channels": out_channels, "scale": scale}


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """``gblocks``: conv, gated-CNN blocks (``norm``, ``fc1``, ``conv``, ``fc2``), tail convs;
    ``shortcut.block`` / ``shortcut.conv11``; an upsampler of one of three kinds."""
    if not is_state_dict(state_dict) or "shortcut.conv11.weight" not in state_dict:
        return None
    first = conv_shape(state_dict, "gblocks.0.weight")
    fc1, dw = conv_shape(state_dict, "gblocks.1.fc1.weight"), conv_shape(state_dict, "gblocks.1.conv.weight")
    up = _upsampler(state_dict, first[1]) if first else None
    if first is None or fc1 is None or dw is None or up is None:
        return None
    params = {
        "scale": up.pop("scale"),
        "in_channels": first[1],
        "dim": first[0],
        "n_block": len(indices(state_dict, "gblocks")) - 4,  # conv, blocks, 3 tail convs
        **up,
        "kernel_size": dw[2],
        "hidden": fc1[0] // 2,
        "conv_channels": dw[0],
    }
    return params if fits(MoSR, params, state_dict, _is_buffer) else None


def _is_buffer(key: str) -> bool:
    return key == "upsampler.init_pos"


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop DySample's stored base positions (recomputed)."""
    return {k: v for k, v in state_dict.items() if not _is_buffer(k)}


SPECS = (
    ArchSpec(
        "mosr",
        "MambaOut gated-CNN SR network (neosr)",
        MoSR,
        detect=detect,
        detect_order=71,
        convert=convert,
        proof="vector MoSR_50 (ps) to 1e-4; gps/dys: tests/archs/data/mosr vectors of neosr's code",
    ),
)
