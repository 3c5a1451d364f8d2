"""Tests of superres.engine, and what they share."""

from __future__ import annotations

import torch

from superres.models import SRModel


def tiny_model(network: torch.nn.Module, name: str = "test") -> SRModel:
    """An SRModel of a freshly built network, on the CPU."""
    return SRModel(network.eval(), name, {}, name, torch.device("cpu"))
