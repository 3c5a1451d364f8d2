"""Network registry: every network's :class:`ArchSpec`, read from the module that declares it.

Every network takes a float tensor N x C x H x W with values in [0, 1] and returns
N x C' x (scale*H) x (scale*W), also meant to be in [0, 1] (not clamped). Each class
declares ``supported_scales`` and carries ``scale``, ``in_channels`` and ``out_channels``.
Each module under ``superres.archs`` listed in ``ARCH_MODULES`` declares its networks in
``SPECS``; a module (and torch) is imported only when a spec is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from superres.archs.spec import ArchSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ARCH_MODULES",
    "ArchSpec",
    "arch_module",
    "build_network",
    "count_parameters",
    "detection_order",
    "folds_to",
    "spec",
    "specs",
]

# Listing order (``superres models`` shows the networks in it).
ARCH_MODULES = (
    "bicubic_arch",
    "srcnn_arch",
    "fsrcnn_arch",
    "espcn_arch",
    "edsr_arch",
    "srresnet_arch",
    "rrdbnet_arch",
    "srvgg_arch",
    "imdn_arch",
    "ecbsr_arch",
    "seed_arch",
    "swiftsrgan_arch",
    "ditn_arch",
    "dctlsa_arch",
    "omnisr_arch",
    "span_arch",
    "safmn_arch",
    "safmn_bcie_arch",
    "plksr_arch",
    "mosr_arch",
    "seemore_arch",
    "realcugan_arch",
    "swinir_arch",
    "swin2sr_arch",
    "hat_arch",
    "atd_arch",
    "grl_arch",
    "rlfn_arch",
    "rfdn_arch",
    "pan_arch",
    "rcan_arch",
    "carn_arch",
    "esrt_arch",
    "dat_arch",
    "craft_arch",
)


def specs() -> dict[str, ArchSpec]:
    """Every network's spec by name, in listing order (imports the network modules)."""
    found: dict[str, ArchSpec] = {}
    for module in ARCH_MODULES:
        for declared in importlib.import_module(f"{__name__}.{module}").SPECS:
            found[declared.name] = declared
    return found


def spec(name: str) -> ArchSpec:
    """The spec of network ``name``; KeyError naming the known networks otherwise."""
    known = specs()
    try:
        return known[name]
    except KeyError:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(known)}") from None


def arch_module(name: str) -> ModuleType:
    """The module that declares network ``name``."""
    return importlib.import_module(spec(name).builder.__module__)


def build_network(name: str, **params: Any) -> nn.Module:
    """Construct network ``name`` with constructor ``params`` (random weights)."""
    return spec(name).builder(**params)


def count_parameters(network: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


def detection_order() -> tuple[ArchSpec, ...]:
    """The specs that recognise third-party state dicts, in the order they are tried."""
    detectable = [s for s in specs().values() if s.detect_order is not None]
    return tuple(sorted(detectable, key=lambda s: s.detect_order))


def folds_to(name: str) -> str | None:
    """The plain network that network ``name`` folds into (ECBSR: srvgg), or None."""
    return spec(name).folds_to
