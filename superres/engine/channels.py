"""Images whose band count is not the network's (the rules are in :mod:`superres.engine`)."""

from __future__ import annotations

import torch

from superres.engine.options import TileOptions
from superres.engine.tiles import TileCallback, upscale_tensor
from superres.models import SRModel
from superres.resize import imresize

# BT.601 full-range RGB <-> YCbCr (JPEG convention: exactly invertible, values stay in [0, 1]).
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_CHROMA_OFFSET = torch.tensor([0.0, 0.5, 0.5]).view(3, 1, 1)


def network_passes(model: SRModel, channels: int) -> int:
    """How many times :func:`run_bands` runs the network over ``channels`` bands."""
    if channels == model.in_channels or (channels, model.in_channels) in ((1, 3), (3, 1)):
        return 1
    return channels


def run_bands(
    model: SRModel, bands: torch.Tensor, options: TileOptions, on_tile: TileCallback | None
) -> torch.Tensor:
    """Upscale a C x H x W tensor whatever its band count."""
    channels = bands.shape[0]
    if channels == model.in_channels:
        return upscale_tensor(model, bands[None], options, on_tile)[0]
    if channels == 1 and model.in_channels == 3:
        return upscale_tensor(model, bands.expand(3, -1, -1)[None], options, on_tile)[0].mean(0, keepdim=True)
    if channels == 3 and model.in_channels == 1:
        ycbcr = torch.einsum("ij,jhw->ihw", _RGB_TO_YCBCR, bands) + _CHROMA_OFFSET
        luma = upscale_tensor(model, ycbcr[None, :1], options, on_tile)[0]
        chroma = imresize(ycbcr[1:], size=tuple(luma.shape[-2:]))
        ycbcr = torch.cat([luma, chroma]) - _CHROMA_OFFSET
        return torch.einsum("ij,jhw->ihw", _YCBCR_TO_RGB, ycbcr)
    return torch.cat([run_bands(model, band[None], options, on_tile) for band in bands])
