"""The models a server offers, each loaded once and shared by every worker thread.

An :class:`~superres.models.SRModel` holds no per-call state (its docstring), so one
instance serves concurrent requests; ``tests/serve`` checks that concurrent results equal
one-at-a-time ones. Loading happens under a lock, so two requests never load one model twice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from superres.errors import SuperresError

if TYPE_CHECKING:
    import numpy as np

    from superres.models import SRModel

AUTO = "auto"
BICUBIC = "bicubic"
MAX_LOADED = 8  # distinct (model, scale, strength) instances held; the least recently used goes


class RequestError(SuperresError):
    """A request the server refuses: ``status`` is its HTTP status (4xx), the text says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Offer:
    """One model as ``GET /api/v1/models`` lists it: the name requests use, the scales it
    runs at, its kind (psnr, gan, real, auto or bicubic) and a summary of its card."""

    name: str
    scales: tuple[int, ...]
    kind: str
    card: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # what load_model takes: a shipped name or a weights path

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "scales": list(self.scales), "kind": self.kind, "card": self.card}


def card_summary(card: dict[str, Any]) -> dict[str, Any]:
    """The parts of a model card a client shows: network, parameters, test-set PSNR, origin."""
    scores = card.get("eval", {}).get("sets") or card.get("metrics", {})
    psnr = {
        name: values["psnr"]
        for name, values in scores.items()
        if isinstance(values, dict) and "psnr" in values
    }
    summary = {"arch": card.get("arch"), "parameters": card.get("parameters"), "psnr": psnr}
    origin = card.get("origin")
    if isinstance(origin, dict):
        summary["licence"] = origin.get("licence")
        summary["source"] = origin.get("source")
    if "strength" in card:
        summary["strength"] = card["strength"]
    return {key: value for key, value in summary.items() if value not in (None, {})}


def _auto_offer() -> Offer:
    from superres import zoo

    return Offer(AUTO, tuple(sorted(zoo.DEFAULTS)), AUTO, {"picks": "per image, as superres upscale does"})


def _bicubic_offer() -> Offer:
    return Offer(BICUBIC, (2, 3, 4), BICUBIC, {"arch": "bicubic"}, BICUBIC)


def _shipped_offers() -> list[Offer]:
    from superres import zoo
    from superres.weights import read_metadata

    offers = [_auto_offer()]
    for model in zoo.SHIPPED:
        meta = read_metadata(model.file)
        card = {"arch": meta.get("arch"), **card_summary(meta.get("card", {}))}
        offers.append(Offer(model.name, (model.scale,), model.kind, card, model.name))
    offers.append(_bicubic_offer())
    return offers


class ModelPool:
    """The offered models (``names``: shipped names, ``auto``, ``bicubic`` or weight-file
    paths; empty for ``auto``, every shipped model and bicubic), loaded on ``device``. Named
    models other than auto and bicubic are loaded here, so a bad name fails at start."""

    def __init__(self, names: tuple[str, ...], device: str = "cpu") -> None:
        self.device = device
        self._lock = threading.Lock()
        self._loaded: OrderedDict[tuple[str, int, float | None], SRModel] = OrderedDict()
        self.offers: dict[str, Offer] = {}
        for offer in _shipped_offers() if not names else [self._offer(name) for name in names]:
            self.offers.setdefault(offer.name, offer)

    def _offer(self, name: str) -> Offer:
        if name == AUTO:
            return _auto_offer()
        if name == BICUBIC:
            return _bicubic_offer()
        model = self._load(name, None, None)
        card = {"arch": model.arch, **card_summary(model.card)}
        offer = Offer(model.name, (model.scale,), str(model.card.get("kind", "?")), card, name)
        with self._lock:
            self._loaded[(name, model.scale, None)] = model
        return offer

    def _load(self, source: str, scale: int | None, strength: float | None) -> SRModel:
        from superres.models import load_model

        return load_model(source, scale=scale, device=self.device, strength=strength)

    def model(self, name: str, scale: int | None, strength: float | None) -> SRModel:
        """Offered model ``name`` at ``scale`` (None: its own) and ``strength``; RequestError
        (404 unknown model, 422 a scale or strength it does not have)."""
        offer = self.offers.get(name)
        if offer is None or name == AUTO:
            raise RequestError(404, f"no model named {name!r} here; GET /api/v1/models lists them")
        scale = scale or offer.scales[0]
        if scale not in offer.scales:
            raise RequestError(
                422, f"model {name} runs at x{', x'.join(map(str, offer.scales))}, not x{scale}"
            )
        return self._cached(offer.source, scale, strength, name)

    def _cached(self, source: str, scale: int, strength: float | None, name: str) -> SRModel:
        """The loaded model of ``source`` at ``scale`` and ``strength``, loaded on first use."""
        key = (source, scale, strength)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            try:
                model = self._load(source, scale, strength)
            except SuperresError as exc:
                raise RequestError(422, f"model {name}: {exc}") from None
            self._loaded[key] = model
            while len(self._loaded) > MAX_LOADED:
                self._loaded.popitem(last=False)
            return model

    def pick(
        self, name: str, *, scale: int | None, strength: float | None, pixels: np.ndarray, has_alpha: bool
    ) -> SRModel:
        """The model a request runs: ``name``'s, or for ``auto`` what ``superres upscale``
        picks for these pixels (strength goes to a model for real photos, as there)."""
        if name != AUTO:
            return self.model(name, scale, strength)
        from superres import zoo
        from superres.engine.input_kind import auto_model_name, input_kind

        offer = self.offers.get(AUTO)
        if offer is None:
            raise RequestError(404, "auto is not offered here; GET /api/v1/models lists the models")
        scale = scale or 4
        if scale not in offer.scales:
            raise RequestError(422, f"auto runs at x{', x'.join(map(str, offer.scales))}, not x{scale}")
        picked = auto_model_name(input_kind(pixels, has_alpha=has_alpha, scale=scale), scale)
        if picked == zoo.DEFAULTS.get(scale):
            strength = None
        return self._cached(picked, scale, strength, f"auto ({picked})")
