"""Pixel losses. Each maps (prediction, target) to a scalar mean over the batch."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from superres.errors import SuperresError

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def charbonnier(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """sqrt((x - y)^2 + eps^2): L1 that is smooth at zero (LapSRN's loss)."""
    return torch.sqrt((prediction - target) ** 2 + eps * eps).mean()


PIXEL_LOSSES: dict[str, Loss] = {"l1": F.l1_loss, "mse": F.mse_loss, "charbonnier": charbonnier}


def pixel_loss(name: str) -> Loss:
    try:
        return PIXEL_LOSSES[name]
    except KeyError:
        raise SuperresError(f"unknown loss {name!r}; choose from {', '.join(PIXEL_LOSSES)}") from None
