"""The model zoo: every model that ships inside the package, declared here and nowhere else.

A file in ``superres/pretrained/`` ships only when it is declared in ``SHIPPED`` (a test
checks both ways), and the default model of each scale is the declared one: shipping
another file never changes it. The release check (``best_psnr_model``, tests/models) keeps
each declared default the best shipped PSNR model of its scale by its card's scores.

Third-party models ship unchanged under a licence that allows it; their card's ``origin``
names the publisher's file, its SHA-256 and licence, whose text ships in
``superres/pretrained/licenses/`` (scripts/ship_third_party.py writes them).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRETRAINED_DIR = Path(__file__).parent / "pretrained"

# Roles: why a model ships.
DEFAULT = "default"  # the best PSNR model of its scale: what -m default and no -m pick
FASTER = "faster"  # faster than the default of its scale, lower PSNR
GAN = "gan"  # photo-realistic texture (kind gan)
GAN_START = "gan start"  # what the GAN was tuned from and blends with (--strength)
REAL_PHOTO = "real photo"  # restores noisy, JPEG-compressed photos (kind real)
ROLES = (DEFAULT, FASTER, GAN, GAN_START, REAL_PHOTO)
# Licences under which a third-party model may ship inside the package
SHIPPABLE_LICENCES = ("Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0")


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model. ``kind`` and ``scale`` repeat its card's (a test holds them equal).
    ``bf16_verified``: its bf16-autocast results score within 0.01 dB of fp32 on Set5 and
    Set14 (``superres eval -m NAME --precision bf16`` against ``--precision fp32``: at most
    0.0025 dB apart), so ``precision="auto"`` may run it in bf16 where that is fast."""

    name: str
    kind: str  # psnr, gan or real
    scale: int
    role: str
    bf16_verified: bool = False

    @property
    def file(self) -> Path:
        return PRETRAINED_DIR / f"{self.name}.safetensors"


SHIPPED = (
    # RLFN-S (bytedance/RLFN, Apache-2.0): +0.39 (x2) and +0.57 dB (x4) on Set5 over ours at
    # 0.8-0.9x their speed (benchmarks/EFFICIENT_PEERS.md). Not bf16-verified: bf16 moved its Set5
    # by -0.022 dB at x2 and -0.010 at x4 (docs/models.md).
    ShippedModel("rlfn-s-x2", "psnr", 2, DEFAULT),
    ShippedModel("compact64-x3-kd", "psnr", 3, DEFAULT, bf16_verified=True),
    ShippedModel("rlfn-s-x4", "psnr", 4, DEFAULT),
    ShippedModel("compact64-x2-kd", "psnr", 2, FASTER, bf16_verified=True),
    ShippedModel("compact64-x4-kd", "psnr", 4, FASTER, bf16_verified=True),
    ShippedModel("compact-x2-kd", "psnr", 2, FASTER, bf16_verified=True),
    ShippedModel("compact-x3-kd", "psnr", 3, FASTER, bf16_verified=True),
    ShippedModel("compact-x4-kd", "psnr", 4, FASTER, bf16_verified=True),
    ShippedModel("photo-gan-x4", "gan", 4, GAN),
    ShippedModel("compact64-x4-mse", "psnr", 4, GAN_START),
    ShippedModel("real-photo-x2", "real", 2, REAL_PHOTO),
    ShippedModel("real-photo-x4", "real", 4, REAL_PHOTO),
)
SHIPPED_BY_NAME: dict[str, ShippedModel] = {m.name: m for m in SHIPPED}
DEFAULTS: dict[int, str] = {m.scale: m.name for m in SHIPPED if m.role == DEFAULT}
BF16_VERIFIED = frozenset(m.name for m in SHIPPED if m.bf16_verified)


def shipped_model(name: str) -> ShippedModel | None:
    """The declaration of shipped model ``name``, or None when no model of that name ships."""
    return SHIPPED_BY_NAME.get(name)


def mean_card_psnr(card: Mapping[str, Any]) -> float:
    """A card's mean PSNR over the test sets of its eval table (Set5, Set14, BSD100), or over
    its validation sets when it has no eval table; 0 with neither."""
    sets = card.get("eval", {}).get("sets") or card.get("metrics", {})
    scores = [float(s["psnr"]) for s in sets.values() if "psnr" in s]
    return statistics.fmean(scores) if scores else 0.0


def best_psnr_model(cards: Mapping[str, Mapping[str, Any]], scale: int) -> str:
    """The release rule for a scale's default: of the PSNR models of ``scale`` among
    ``cards`` (model name -> card), the one with the highest :func:`mean_card_psnr`; the
    first one listed wins a tie. Bicubic when there is none."""
    candidates = [n for n, c in cards.items() if c.get("scale") == scale and c.get("kind", "psnr") == "psnr"]
    return max(candidates, key=lambda n: mean_card_psnr(cards[n]), default="bicubic")
