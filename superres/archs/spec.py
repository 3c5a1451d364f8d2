"""What the registry knows about one network: :class:`ArchSpec`, declared by the network's module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor, nn

StateDict = dict[str, "Tensor"]


@dataclass(frozen=True)
class ArchSpec:
    """One network, declared once in its module's ``SPECS``.

    ``detect`` returns constructor parameters when a third-party state dict belongs to the
    network (None otherwise); specs with a ``detect`` are tried in ascending
    ``detect_order``, so a more specific layout is tried before a looser one. ``convert``
    renames foreign keys to the network's own. ``folds_to`` names the plain network a
    re-parameterisable one folds into, and ``unfold`` starts it from that network's state
    dict; ``deepen`` starts a deeper network from a shallower one's. ``bf16_verified`` lets
    ``precision="auto"`` run any weights of this network in bf16 (shipped models declare
    their own in :mod:`superres.zoo`). ``tiles_equal_whole`` is False when a tiled run is not
    the whole-image run up to rounding (attention pooled over the whole input). ``proof``
    says what shows that third-party weights run as their publisher's code runs them (a real
    file meeting its published numbers, a reference output, a test vector); empty for
    networks only superres trains. ``onnx_export`` is empty when ``superres export`` can
    write the network as ONNX, else the reason it cannot (refused before trying)."""

    name: str
    summary: str
    builder: Callable[..., nn.Module]
    detect: Callable[[StateDict], dict[str, Any] | None] | None = None
    detect_order: int | None = None
    convert: Callable[[StateDict], StateDict] | None = None
    folds_to: str | None = None
    unfold: Callable[[StateDict, nn.Module], StateDict] | None = None
    deepen: Callable[[StateDict, nn.Module], StateDict] | None = None
    bf16_verified: bool = False
    tiles_equal_whole: bool = True
    proof: str = ""
    onnx_export: str = ""

    def __post_init__(self) -> None:
        if (self.detect is None) != (self.detect_order is None):
            raise ValueError(f"{self.name}: detect and detect_order go together")
        if (self.folds_to is None) != (self.unfold is None):
            raise ValueError(f"{self.name}: folds_to and unfold go together")

    @property
    def class_name(self) -> str:
        return self.builder.__name__
