"""SRVGGNetCompact (Real-ESRGAN compact / animevideo models): a plain conv stack in LR
space, pixel shuffle, plus a nearest-upsampled copy of the input."""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec


class SRVGGNetCompact(nn.Module):
    supported_scales = (1, 2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int | None = None,
        num_feat: int = 64,
        num_conv: int = 16,
        act_type: str = "prelu",
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.body = nn.ModuleList([nn.Conv2d(in_channels, num_feat, 3, 1, 1), self._act(act_type, num_feat)])
        for _ in range(num_conv):
            self.body.append(nn.Conv2d(num_feat, num_feat, 3, 1, 1))
            self.body.append(self._act(act_type, num_feat))
        self.body.append(nn.Conv2d(num_feat, self.out_channels * scale * scale, 3, 1, 1))
        self.upsampler = nn.PixelShuffle(scale)

    @staticmethod
    def _act(act_type: str, num_feat: int) -> nn.Module:
        if act_type == "prelu":
            return nn.PReLU(num_parameters=num_feat)
        if act_type == "relu":
            return nn.ReLU(inplace=True)
        if act_type == "leakyrelu":
            return nn.LeakyReLU(0.1, inplace=True)
        raise ValueError(f"unknown act_type {act_type!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        if self.out_channels == self.in_channels:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return out


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """``body.0`` conv, then (act, conv) pairs; last conv has out*scale^2 channels."""
    if not is_state_dict(state_dict) or conv_shape(state_dict, "body.0.weight") is None:
        return None
    if not all(re.fullmatch(r"body\.\d+\.(weight|bias)", k) for k in state_dict):
        return None
    conv_indices = sorted(
        int(k.split(".")[1]) for k in state_dict if k.endswith(".weight") and state_dict[k].dim() == 4
    )
    num_feat, in_channels = conv_shape(state_dict, "body.0.weight")[:2]
    last = conv_shape(state_dict, f"body.{conv_indices[-1]}.weight")
    if last is None:
        return None
    scale = math.isqrt(last[0] // in_channels)
    if scale * scale * in_channels != last[0]:
        return None
    # PReLU slopes are stored as 1-D weights; ReLU/LeakyReLU leave no trace (assume ReLU).
    act_type = "prelu" if "body.1.weight" in state_dict else "relu"
    return {
        "scale": scale,
        "in_channels": in_channels,
        "num_feat": num_feat,
        "num_conv": len(conv_indices) - 2,
        "act_type": act_type,
    }


def deepen(state_dict: dict[str, torch.Tensor], network: SRVGGNetCompact) -> dict[str, torch.Tensor]:
    """``state_dict`` of a shallower network of the same scale and width, as a state dict for
    ``network``: the missing convs go in just before the upsampling conv as identities (Dirac
    kernel, zero bias, PReLU slope 1), so ``network`` starts out computing exactly what the
    shallower one did (Net2Net's deeper net; a ReLU after an identity conv also passes its
    non-negative input through). Raises ValueError when the two do not fit."""
    target = network.state_dict()
    last = len(network.body) - 1
    source_last = max(int(k.split(".")[1]) for k in state_dict)
    if source_last > last:
        raise ValueError(
            f"the pretrained network has more convs ({source_last // 2 - 1})"
            f" than the recipe's ({last // 2 - 1})"
        )
    if isinstance(network.body[1], nn.LeakyReLU):
        raise ValueError("LeakyReLU cannot pass its input through unchanged")
    grown = {k: v for k, v in state_dict.items() if int(k.split(".")[1]) < source_last}
    for index in range(source_last, last, 2):
        conv = target[f"body.{index}.weight"]
        grown[f"body.{index}.weight"] = nn.init.dirac_(torch.empty_like(conv))
        grown[f"body.{index}.bias"] = torch.zeros_like(target[f"body.{index}.bias"])
        if f"body.{index + 1}.weight" in target:  # PReLU slopes
            grown[f"body.{index + 1}.weight"] = torch.ones_like(target[f"body.{index + 1}.weight"])
    grown[f"body.{last}.weight"] = state_dict[f"body.{source_last}.weight"]
    grown[f"body.{last}.bias"] = state_dict[f"body.{source_last}.bias"]
    mismatched = [k for k, v in grown.items() if k not in target or v.shape != target[k].shape]
    if mismatched or set(grown) != set(target):
        raise ValueError(
            f"the pretrained network does not fit the recipe's ({', '.join(mismatched) or 'layout'})"
        )
    return grown


SPECS = (
    ArchSpec(
        "srvgg",
        "Real-ESRGAN compact VGG-style network",
        SRVGGNetCompact,
        detect=detect,
        detect_order=4,
        deepen=deepen,
        proof="vectors Compact_05, Compact_06 match to 1e-4; realesr-animevideov3.pth detected, sane output",
    ),
)
