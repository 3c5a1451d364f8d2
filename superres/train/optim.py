"""Optimizers from recipe settings (shared by the generator and the discriminator), and the
generator's learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from superres.errors import SuperresError
from superres.train.recipe import OptimizerConfig, ScheduleConfig

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
SCHEDULES = ("constant", "multistep", "cosine")


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


def learning_rate(schedule: ScheduleConfig, base_lr: float, iteration: int, total: int) -> float:
    """Learning rate for (0-based) ``iteration``: warm-up, then constant, step or cosine decay."""
    if schedule.warmup and iteration < schedule.warmup:
        return base_lr * (iteration + 1) / schedule.warmup
    if schedule.type == "constant":
        return base_lr
    if schedule.type == "multistep":
        return base_lr * schedule.gamma ** sum(iteration >= m for m in schedule.milestones)
    if schedule.type == "cosine":
        span = max(1, total - schedule.warmup)
        progress = min(1.0, (iteration - schedule.warmup) / span)
        return schedule.min_lr + (base_lr - schedule.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    raise SuperresError(f"unknown schedule {schedule.type!r}; use {', '.join(SCHEDULES)}")
