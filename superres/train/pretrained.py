"""Starting a training run from pretrained weights (``network.pretrained`` and its options)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from superres.archs import spec
from superres.errors import SuperresError
from superres.models import shipped_weights
from superres.train.recipe import NetworkConfig
from superres.weights import load_network


def pretrained_path(pretrained: str) -> Path:
    """``network.pretrained``: a weights file, or the name of a shipped model (``superres
    models``), so a recipe can start from one wherever superres is installed."""
    path, shipped = Path(pretrained), shipped_weights()
    return shipped[pretrained] if not path.exists() and pretrained in shipped else path


def load_pretrained(
    network: nn.Module, arch: str, params: dict[str, Any], config: NetworkConfig
) -> list[str]:
    """Copy ``config.pretrained``'s weights into ``network``; returns the names left at
    initialisation (only with ``pretrained_partial``, which takes every tensor whose name and
    shape fit). ``pretrained_deepen`` starts a deeper network with its new layers as identities.
    A re-parameterisable network (ECBSR) may start from the plain network it folds into."""
    path = pretrained_path(config.pretrained)
    source, source_arch, _, _ = load_network(path)
    network_spec = spec(arch)
    if source_arch != arch and source_arch == network_spec.folds_to:
        if config.pretrained_partial or config.pretrained_deepen or source.scale != params["scale"]:
            raise SuperresError(
                f"{arch} starts from a {source_arch} file of its own scale and depth as a whole"
                " (no pretrained_partial or pretrained_deepen)",
                path,
            )
        try:
            network.load_state_dict(network_spec.unfold(source.state_dict(), network))
        except ValueError as exc:
            raise SuperresError(f"pretrained weights: {exc}", path) from None
        return []
    if source_arch != arch or (source.scale != params["scale"] and not config.pretrained_partial):
        raise SuperresError(
            f"pretrained weights are {source_arch} x{source.scale}, the recipe trains {arch}"
            f" x{params['scale']} (network.pretrained_partial takes what fits from another scale)",
            path,
        )
    if config.pretrained_partial:
        target = network.state_dict()
        fitting = {k: v for k, v in source.state_dict().items() if k in target and v.shape == target[k].shape}
        if not fitting:
            raise SuperresError("pretrained weights share no tensor with the recipe's network", path)
        network.load_state_dict(fitting, strict=False)
        return sorted(set(target) - set(fitting))
    state_dict = source.state_dict()
    if config.pretrained_deepen:
        try:
            state_dict = network_spec.deepen(state_dict, network)
        except ValueError as exc:
            raise SuperresError(f"network.pretrained_deepen: {exc}", path) from None
    try:
        network.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise SuperresError(
            f"pretrained weights do not fit the recipe's network ({str(exc).splitlines()[0]})", path
        ) from None
    return []
