"""The training loop: one optimisation step per iteration, then the hooks (logging,
validation, checkpoints) of the main process."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import torch
from torch import nn
from tqdm import tqdm

from superres.errors import SuperresError
from superres.train.distributed import Distributed, all_ranks_finite, any_rank_asked_to_stop
from superres.train.interrupt import StopRequest
from superres.train.optim import learning_rate
from superres.train.parts import Parts
from superres.train.recipe import TrainConfig
from superres.train.run_log import StepTimes


class TrainingStoppedError(SuperresError):
    """Training could not go on (e.g. a non-finite loss); the last checkpoint is intact."""


class StepHook(Protocol):
    def after_step(self, done: int, terms: dict[str, torch.Tensor], times: StepTimes) -> None:
        """Called after every step with the iterations done, the step's loss terms and the
        time spent since the last log record (which the log resets)."""


class LastCheckpoint(Protocol):
    last_good: str  # names the checkpoint to fall back on, for the message of a stopped run


def _targets(
    parts: Parts, hr_batch: torch.Tensor, teacher_batch: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    targets = {"hr": hr_batch}
    if teacher_batch is not None:
        targets["teacher"] = teacher_batch.to(parts.device, memory_format=parts.memory_format)
    return targets


def optimisation_step(
    parts: Parts,
    cfg: TrainConfig,
    iteration: int,
    batch: Sequence[torch.Tensor],
    *,
    ranks: Distributed,
    last_good: str,
) -> dict[str, torch.Tensor]:
    """One optimisation step of the generator (and the discriminator) on ``batch`` (LR, HR and,
    with a teacher, the teacher's output, the target of the losses whose target is the
    teacher); returns the loss terms. ``last_good`` names the checkpoint to fall back on if
    the loss is not finite."""
    for group in parts.optimizer.param_groups:
        group["lr"] = learning_rate(cfg.schedule, cfg.optimizer.lr, iteration, cfg.iterations)
    lr_batch, hr_batch, *taught = batch
    lr_batch = lr_batch.to(parts.device, memory_format=parts.memory_format)
    hr_batch = hr_batch.to(parts.device, memory_format=parts.memory_format)
    targets = _targets(parts, hr_batch, taught[0] if taught else None)
    adversary = parts.adversary
    if adversary is not None and iteration < cfg.gan.discriminator_warmup:  # generator frozen
        with torch.no_grad(), parts.autocast():
            sr = parts.trained(lr_batch).float()
        return {"discriminator": torch.tensor(adversary.step(sr, hr_batch))}
    with parts.autocast():
        sr = parts.trained(lr_batch).float()  # losses in fp32
        terms = {name: weight * fn(sr, targets[target]) for name, fn, weight, target in parts.losses}
        if parts.perceptual is not None:
            terms["perceptual"] = cfg.perceptual.weight * parts.perceptual(sr, hr_batch)
        if adversary is not None:
            terms.update(adversary.generator_terms(sr, hr_batch))
    loss = sum(terms.values())
    if not all_ranks_finite(loss, ranks):
        raise TrainingStoppedError(
            f"non-finite loss ({loss.item()}) at iteration {iteration + 1}; stopped; {last_good}"
        )
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(parts.network.parameters(), cfg.grad_clip)
    parts.optimizer.step()
    if adversary is not None:
        terms["discriminator"] = torch.tensor(adversary.step(sr, hr_batch))
    parts.update_ema(cfg.ema_decay)
    return terms


def run_iterations(
    parts: Parts,
    cfg: TrainConfig,
    batches: Iterable[Sequence[torch.Tensor]],
    *,
    iterations: range,
    ranks: Distributed,
    checkpoints: LastCheckpoint,
    hooks: Sequence[StepHook],
    bar: tqdm,
    stop: StopRequest | None = None,
) -> int:
    """Train for ``iterations`` (0-based), one batch each; after every step, advance ``bar``
    and call ``hooks`` in order. Returns the iterations done: fewer when ``stop`` is
    requested (after the step under way)."""
    times = StepTimes()
    done = iterations.start
    waiting_since = time.perf_counter()
    for iteration, batch in zip(iterations, batches, strict=True):
        fetched = time.perf_counter()
        terms = optimisation_step(parts, cfg, iteration, batch, ranks=ranks, last_good=checkpoints.last_good)
        times.add(fetched - waiting_since, time.perf_counter() - fetched)
        bar.update()
        try:
            for hook in hooks:
                hook.after_step(iteration + 1, terms, times)
        except OSError as exc:  # a full disk, a folder gone
            where = f"{exc.filename}: " if exc.filename else ""
            raise TrainingStoppedError(
                f"{where}cannot write ({exc.strerror or exc}) at iteration {iteration + 1}; stopped;"
                f" {checkpoints.last_good}"
            ) from None
        done = iteration + 1
        if stop is not None and any_rank_asked_to_stop(stop.requested, ranks):
            break
        waiting_since = time.perf_counter()
    return done
