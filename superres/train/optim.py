"""Optimizers from recipe settings (shared by the generator and the discriminator)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from superres.errors import SuperresError
from superres.train.recipe import OptimizerConfig

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def check_optimizer(config: OptimizerConfig) -> None:
    if config.type not in OPTIMIZERS:
        raise SuperresError(f"unknown optimizer {config.type!r}; use {' or '.join(OPTIMIZERS)}")


def make_optimizer(
    config: OptimizerConfig, parameters: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    check_optimizer(config)
    return OPTIMIZERS[config.type](
        parameters, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay
    )
