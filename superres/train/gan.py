"""The adversarial half of GAN training: the discriminator, its optimizer and the losses
that tie it to the generator.

The generator's terms use the plain discriminator module with its weights frozen (so no
gradient reaches it and DDP has nothing to synchronise); the discriminator's own step uses
the (possibly DDP-wrapped) trainable copy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from superres.train.discriminators import build_discriminator
from superres.train.losses import discriminator_loss, feature_matching_loss, generator_loss, highpass
from superres.train.optim import make_optimizer

if TYPE_CHECKING:
    from superres.train.recipe import GanConfig


@dataclass
class Adversary:
    module: nn.Module  # the discriminator
    trained: nn.Module  # the same, DDP-wrapped when distributed
    optimizer: torch.optim.Optimizer
    loss: str
    weight: float
    feature_matching: float
    forward_context: Callable[[], AbstractContextManager] = contextlib.nullcontext  # e.g. bf16 autocast
    frequency_separation: bool = False  # the discriminator sees highpass(image)

    def _seen(self, image: torch.Tensor) -> torch.Tensor:
        return highpass(image) if self.frequency_separation else image

    def generator_terms(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        sr, hr = self._seen(sr), self._seen(hr)
        self.module.requires_grad_(False)
        try:
            with torch.no_grad():
                real_logits, real_features = _fp32(self.module(hr))
            fake_logits, fake_features = _fp32(self.module(sr))
            terms = {"gan": self.weight * generator_loss(self.loss, real_logits, fake_logits)}
            if self.feature_matching:
                terms["feature_matching"] = self.feature_matching * feature_matching_loss(
                    real_features, fake_features
                )
        finally:
            self.module.requires_grad_(True)
        return terms

    def step(self, sr: torch.Tensor, hr: torch.Tensor) -> float:
        """One discriminator update on a real and a (detached) generated batch."""
        sr, hr = self._seen(sr.detach()), self._seen(hr)
        with self.forward_context():  # the forward passes only; backward runs outside autocast
            real_logits, _ = _fp32(self.trained(hr))
            fake_logits, _ = _fp32(self.trained(sr))
        loss = discriminator_loss(self.loss, real_logits, fake_logits)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def state(self) -> dict[str, Any]:
        return {"discriminator": self.module.state_dict(), "d_optimizer": self.optimizer.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["d_optimizer"])


def _fp32(output: tuple[torch.Tensor, list[torch.Tensor]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Discriminator logits and features in fp32, so losses are exact under bf16 autocast."""
    logits, features = output
    return logits.float(), [f.float() for f in features]


def build_adversary(
    gan_config: GanConfig,
    *,
    channels: int,
    hr_patch: int,
    device: torch.device,
    wrap: Callable[[nn.Module], nn.Module],
    forward_context: Callable[[], AbstractContextManager] = contextlib.nullcontext,
) -> Adversary:
    """The discriminator for ``channels``-channel HR patches of side ``hr_patch``, with its
    optimizer. ``wrap`` turns a module into its trainable (e.g. DDP) form; ``forward_context``
    is entered around the discriminator's own forward passes."""
    params = dict(gan_config.discriminator_params)
    params.setdefault("in_channels", channels)
    if gan_config.discriminator == "vgg":
        params.setdefault("input_size", hr_patch)
    module = build_discriminator(gan_config.discriminator, **params).to(device).train()
    optimizer = make_optimizer(gan_config.optimizer, module.parameters())
    return Adversary(
        module,
        wrap(module),
        optimizer,
        gan_config.loss,
        gan_config.weight,
        gan_config.feature_matching,
        forward_context,
        gan_config.frequency_separation,
    )
