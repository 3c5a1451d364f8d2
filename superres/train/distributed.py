"""Distributed training under ``torchrun --nproc_per_node N -m superres train ...``.

Each process joins a process group (gloo on CPU, nccl on GPU), takes ``batch_size / N`` of
every global batch and averages gradients with DistributedDataParallel; only rank 0
validates, logs and writes files.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join_process_group(device: str) -> tuple[Distributed, str]:
    """Join torchrun's process group if launched by it; returns (ranks, this rank's device)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size()), device


def leave_process_group(ranks: Distributed) -> None:
    """Destroy the process group, freeing the DDP wrappers first: they sit in reference cycles,
    and one freed at interpreter exit, after its process group, can abort the process."""
    if ranks.world_size > 1:
        gc.collect()
        dist.destroy_process_group()


def wait_for_main(ranks: Distributed) -> None:
    """Block every rank until all, rank 0 included, reach this point."""
    if ranks.world_size > 1:
        dist.barrier()


def ddp_wrapper(ranks: Distributed) -> Callable[[nn.Module], nn.Module]:
    """A module's trainable form: DDP-wrapped when distributed, else the module itself."""

    def wrap(module: nn.Module) -> nn.Module:
        return DistributedDataParallel(module) if ranks.world_size > 1 else module

    return wrap


def all_ranks_finite(loss: torch.Tensor, ranks: Distributed) -> bool:
    """Whether ``loss`` is finite on every rank: all must agree to stop, or the others hang."""
    finite = torch.isfinite(loss.detach()).float()
    if ranks.world_size > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


def any_rank_asked_to_stop(asked: bool, ranks: Distributed) -> bool:
    """Whether a stop signal reached any rank: all must stop after the same step, or the
    others hang in the next step's gradient exchange."""
    if ranks.world_size == 1:
        return asked
    flag = torch.tensor([float(asked)])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def ranks_hold_identical_weights(network: nn.Module) -> bool:
    """Whether every rank's ``network`` holds exactly the same parameters."""
    flat = torch.cat([p.detach().reshape(-1).float().cpu() for p in network.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])
