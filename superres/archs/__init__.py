"""Network registry: name -> (module, class), imported only when a network is built.

Every network takes a float tensor N x C x H x W with values in [0, 1] and returns
N x C' x (scale*H) x (scale*W), also meant to be in [0, 1] (not clamped). Each class
declares ``supported_scales`` and carries ``scale``, ``in_channels`` and ``out_channels``.
A module may also define ``detect(state_dict) -> dict | None`` returning constructor
parameters when a third-party state dict belongs to it, and ``convert(state_dict)``
renaming foreign keys to ours.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ArchEntry:
    name: str
    module: str  # module under superres.archs
    class_name: str
    summary: str


_ENTRIES = [
    ArchEntry("bicubic", "bicubic_arch", "Bicubic", "MATLAB-compatible bicubic resize (no weights)"),
    ArchEntry("srcnn", "srcnn_arch", "SRCNN", "Dong et al. 2014, 9-1-5 on a bicubic-upscaled input"),
    ArchEntry("fsrcnn", "fsrcnn_arch", "FSRCNN", "Dong et al. 2016, hourglass + deconvolution"),
    ArchEntry("espcn", "espcn_arch", "ESPCN", "Shi et al. 2016, sub-pixel convolution"),
    ArchEntry("edsr", "edsr_arch", "EDSR", "Lim et al. 2017 (baseline: 16x64, full: 32x256)"),
    ArchEntry("srresnet", "srresnet_arch", "SRResNet", "Ledig et al. 2017, with batch norm and PReLU"),
    ArchEntry("msrresnet", "srresnet_arch", "MSRResNet", "BasicSR's modified SRResNet (no BN)"),
    ArchEntry("rrdbnet", "rrdbnet_arch", "RRDBNet", "ESRGAN / Real-ESRGAN generator"),
    ArchEntry("srvgg", "srvgg_arch", "SRVGGNetCompact", "Real-ESRGAN compact VGG-style network"),
    ArchEntry("imdn", "imdn_arch", "IMDN", "Hui et al. 2019, information multi-distillation"),
    ArchEntry("ecbsr", "ecbsr_arch", "ECBSR", "Zhang et al. 2021, re-parameterisable; folds into srvgg"),
    ArchEntry("seed", "seed_arch", "SeedNet", "the project's founding pre-upsampling network"),
]
ARCHS: dict[str, ArchEntry] = {entry.name: entry for entry in _ENTRIES}


def arch_module(name: str) -> ModuleType:
    """Import and return the module that defines network ``name``."""
    try:
        entry = ARCHS[name]
    except KeyError:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(ARCHS)}") from None
    return importlib.import_module(f"{__name__}.{entry.module}")


def build_network(name: str, **params: Any) -> nn.Module:
    """Construct network ``name`` with constructor ``params`` (random weights)."""
    return getattr(arch_module(name), ARCHS[name].class_name)(**params)


def count_parameters(network: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
