"""Optimizers from recipe settings (shared by the generator and the discriminator)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from superres.errors import SuperresError
from superres.train.recipe import OptimizerConfig


def make_optimizer(
    config: OptimizerConfig, parameters: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if config.type not in kinds:
        raise SuperresError(f"unknown optimizer {config.type!r}; use adam or adamw")
    return kinds[config.type](
        parameters, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay
    )
