"""Starting a training run from pretrained weights (``network.pretrained`` and its options)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from superres.archs import spec
from superres.errors import SuperresError
from superres.models import shipped_weights
from superres.train.recipe import NetworkConfig
from superres.weights import load_network


def pretrained_path(pretrained: str) -> Path:
    """``network.pretrained``: a weights file, or the name of a shipped model (``superres
    models``), so a recipe can start from one wherever superres is installed."""
    path, shipped = Path(pretrained), shipped_weights()
    return shipped[pretrained] if not path.exists() and pretrained in shipped else path


def load_pretrained(
    network: nn.Module, arch: str, params: dict[str, Any], config: NetworkConfig
) -> list[str]:
    """Copy ``config.pretrained``'s weights into ``network``; returns the names left at
    initialisation (only with ``pretrained_partial``, which takes every tensor whose name and
    shape fit, and with ``pretrained_resample`` the pixel-shuffle conv of another scale).
    ``pretrained_deepen`` starts a deeper network with its new layers as identities.
    A re-parameterisable network (ECBSR) may start from the plain network it folds into."""
    path = pretrained_path(config.pretrained)
    source, source_arch, _, _ = load_network(path)
    network_spec = spec(arch)
    if source_arch != arch and source_arch == network_spec.folds_to:
        if config.pretrained_partial or config.pretrained_deepen or source.scale != params["scale"]:
            raise SuperresError(
                f"{arch} starts from a {source_arch} file of its own scale and depth as a whole"
                " (no pretrained_partial or pretrained_deepen)",
                path,
            )
        try:
            network.load_state_dict(network_spec.unfold(source.state_dict(), network))
        except ValueError as exc:
            raise SuperresError(f"pretrained weights: {exc}", path) from None
        return []
    if source_arch != arch or (source.scale != params["scale"] and not config.pretrained_partial):
        raise SuperresError(
            f"pretrained weights are {source_arch} x{source.scale}, the recipe trains {arch}"
            f" x{params['scale']} (network.pretrained_partial takes what fits from another scale)",
            path,
        )
    if config.pretrained_partial:
        target, offered = network.state_dict(), source.state_dict()
        fitting = {k: v for k, v in offered.items() if k in target and v.shape == target[k].shape}
        if config.pretrained_resample:
            for key, value in offered.items():
                if key in target and key not in fitting:
                    resampled = resample_subpixel(value, source.scale, params["scale"])
                    if resampled is not None and resampled.shape == target[key].shape:
                        fitting[key] = resampled
        if not fitting:
            raise SuperresError("pretrained weights share no tensor with the recipe's network", path)
        network.load_state_dict(fitting, strict=False)
        return sorted(set(target) - set(fitting))
    state_dict = source.state_dict()
    if config.pretrained_deepen:
        try:
            state_dict = network_spec.deepen(state_dict, network)
        except ValueError as exc:
            raise SuperresError(f"network.pretrained_deepen: {exc}", path) from None
    try:
        network.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise SuperresError(
            f"pretrained weights do not fit the recipe's network ({str(exc).splitlines()[0]})", path
        ) from None
    return []


def _subpixel_weights(source_scale: int, scale: int) -> torch.Tensor:
    """scale x source_scale matrix: each new sub-pixel row as a linear interpolation of the
    two source sub-pixels nearest its centre (positions in LR pixel units, (i + 0.5) / scale)."""
    weights = torch.zeros(scale, source_scale)
    for i in range(scale):
        position = min(max((i + 0.5) * source_scale / scale - 0.5, 0.0), source_scale - 1.0)
        low = math.floor(position)
        high = min(low + 1, source_scale - 1)
        weights[i, low] += 1 - (position - low)
        weights[i, high] += position - low
    return weights


def resample_subpixel(tensor: torch.Tensor, source_scale: int, scale: int) -> torch.Tensor | None:
    """The weight or bias of a conv feeding ``PixelShuffle(source_scale)`` (output channel
    ``c * r * r + i * r + j`` is sub-pixel (i, j) of colour c), resampled for
    ``PixelShuffle(scale)``; None when its output channels are not a multiple of the
    source's sub-pixel count, or the scales are equal."""
    area = source_scale * source_scale
    if source_scale == scale or tensor.ndim == 0 or tensor.shape[0] % area:
        return None
    colours = tensor.shape[0] // area
    rows = _subpixel_weights(source_scale, scale).to(tensor.dtype)
    grid = tensor.reshape(colours, source_scale, source_scale, -1)
    resampled = torch.einsum("ik,jl,cklx->cijx", rows, rows, grid)
    return resampled.reshape(colours * scale * scale, *tensor.shape[1:]).contiguous()
