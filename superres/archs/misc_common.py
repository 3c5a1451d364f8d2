"""Pieces shared by PLKSR, MoSR, SeemoRe and RealCUGAN: a channels-first LayerNorm, reading
the indices of a ``Sequential`` out of a state dict, and the final strictness check of their
``detect`` functions (the dict holds exactly the keys and shapes of the network detected)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an N x C x H x W tensor (mean and biased variance
    per pixel, ``eps`` inside the square root), as the ConvNeXt-style blocks write it."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def indices(state_dict: dict[str, Any], prefix: str) -> list[int]:
    """Sorted distinct integers ``i`` of the keys ``<prefix>.<i>.…``."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    found = {int(m.group(1)) for k in state_dict if isinstance(k, str) and (m := pattern.match(k))}
    return sorted(found)


def shape(state_dict: dict[str, Any], key: str) -> tuple[int, ...] | None:
    """Shape of floating-point tensor ``key``, or None when it is missing or not one."""
    tensor = state_dict.get(key)
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        return None
    return tuple(int(d) for d in tensor.shape)


def fits(
    builder: Callable[..., nn.Module],
    params: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    ignored: Callable[[str], bool] = lambda key: False,
) -> bool:
    """Whether ``builder(**params)`` (built on the meta device, nothing allocated) has exactly
    the keys and shapes of ``state_dict``, keys for which ``ignored`` holds left out on both
    sides. Any failure to build counts as no."""
    try:
        with torch.device("meta"):
            network = builder(**params)
        want = {k: tuple(v.shape) for k, v in network.state_dict().items() if not ignored(k)}
    except Exception:  # detect must never raise
        return False
    got = {k: tuple(v.shape) for k, v in state_dict.items() if not ignored(k)}
    return want == got
