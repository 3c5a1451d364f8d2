"""What the training steps touch, built from a recipe: the network (from pretrained weights
if the recipe says so), its EMA copy, the optimizer, the losses and the adversary."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from superres.archs import build_network
from superres.errors import SuperresError
from superres.train.distributed import Distributed, ddp_wrapper
from superres.train.gan import Adversary, build_adversary
from superres.train.losses import pixel_loss
from superres.train.optim import make_optimizer
from superres.train.precision import training_precision
from superres.train.pretrained import load_pretrained
from superres.train.recipe import Recipe
from superres.train.vgg import PerceptualLoss


def network_params(recipe: Recipe) -> dict[str, Any]:
    """The network's parameters: the recipe's, with the scale and channels of its data."""
    params = dict(recipe.network.params)
    if params.setdefault("scale", recipe.data.scale) != recipe.data.scale:
        raise SuperresError(f"network scale {params['scale']} differs from data.scale {recipe.data.scale}")
    if recipe.data.channels != 3:
        params.setdefault("in_channels", recipe.data.channels)
    return params


@dataclass
class Parts:
    """What the training steps touch: the networks, the optimizer, the losses and the adversary."""

    network: nn.Module
    trained: nn.Module  # ``network``, DDP-wrapped when distributed
    ema: nn.Module | None  # a slowly averaged copy of ``network``; the one written when present
    optimizer: torch.optim.Optimizer
    # (log name, loss function, weight, target: "hr" or "teacher")
    losses: list[tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor], float, str]]
    adversary: Adversary | None
    perceptual: PerceptualLoss | None
    device: torch.device
    memory_format: torch.memory_format
    bf16: bool

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16)

    @property
    def generator(self) -> nn.Module:
        """The network to validate and write to the model file: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.network

    def update_ema(self, decay: float) -> None:
        """Move the EMA copy's parameters ``1 - decay`` of the way to the network's; copy buffers."""
        if self.ema is None:
            return
        with torch.no_grad():
            for ema_p, p in zip(self.ema.parameters(), self.network.parameters(), strict=True):
                ema_p.lerp_(p, 1 - decay)
            for ema_b, b in zip(self.ema.buffers(), self.network.buffers(), strict=True):
                ema_b.copy_(b)


def build_parts(
    recipe: Recipe, params: dict[str, Any], device: torch.device, ranks: Distributed, resume: bool
) -> Parts:
    """The parts, seeded by ``train.seed``; pretrained weights are loaded unless resuming (the
    checkpoint then supplies every weight)."""
    cfg, arch = recipe.train, recipe.network.arch
    losses = [  # fail fast on a bad name
        (lc.type if lc.target == "hr" else f"{lc.type}_teacher", pixel_loss(lc.type), lc.weight, lc.target)
        for lc in cfg.losses
    ]
    torch.manual_seed(cfg.seed)
    network = build_network(arch, **params)
    if recipe.network.pretrained and not resume:
        left = load_pretrained(network, arch, params, recipe.network)
        if left and ranks.is_main:
            print(f"[{recipe.name}] not in the pretrained weights, trained from scratch: {', '.join(left)}")
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    network = network.to(device, memory_format=memory_format).train()

    wrap = ddp_wrapper(ranks)
    parts = Parts(
        network=network,
        trained=wrap(network),
        ema=copy.deepcopy(network).eval().requires_grad_(False) if cfg.ema_decay > 0 else None,
        optimizer=make_optimizer(cfg.optimizer, network.parameters()),
        losses=losses,
        adversary=None,
        perceptual=None,
        device=device,
        memory_format=memory_format,
        bf16=training_precision(cfg.precision, device) == "bf16",
    )
    if cfg.gan:
        parts.adversary = build_adversary(
            cfg.gan,
            channels=params.get("in_channels", 3),
            hr_patch=recipe.data.patch_size * recipe.data.scale,
            device=device,
            wrap=wrap,
            forward_context=parts.autocast,
        )
    if cfg.perceptual:
        p = cfg.perceptual
        parts.perceptual = PerceptualLoss(p.layers, p.weights_path, p.criterion).to(device)
    return parts
