"""What an input image carries (clean, JPEG-compressed, noisy), and so which shipped model
``auto`` runs on it: the scale's model for real photos for a compressed or noisy photo, the
PSNR default otherwise. Plain numpy; no torch import.

The noise estimate is Immerkær's (1996, "Fast noise variance estimation", CVIU 64(2)):
the image convolved with the difference of two Laplacians

    1 -2  1
   -2  4 -2
    1 -2  1

leaves almost nothing of smooth content and ``6 sigma`` of white Gaussian noise of standard
deviation ``sigma``, whose mean absolute value is ``sqrt(2 / pi) * 6 sigma``. Edges and
texture leave residue too, so (as Tai and Yang 2008 do with an edge map) only the flattest
pixels are used: the ``FLAT_FRACTION`` of each colour band with the smallest gradient,
leaving out clipped pixels (at 0 or the peak), where noise was cut off. The estimate is the
mean over the colour bands, in 8-bit units (a 16-bit image's by its peak), so it reads as
``superres eval --lr-noise SIGMA``. Textured clean images still read a few units (measured
in docs/models.md, "Automatic choice").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# At or below it, a JPEG's artefacts cost the clean-LR default more than the model for real
# photos loses in detail (benchmarks/AUTO_PICK.md, benchmarks/REAL_PHOTO.md).
JPEG_QUALITY_THRESHOLD = 90
# Above it (8-bit units), an image is taken for noisy: where the scale's model for real
# photos starts to beat its default on Set14 with --lr-noise (benchmarks/AUTO_PICK.md: x4
# rlfn-s-x4 still wins at sigma 5, real-photo-x4 at 7; x2 real-photo-x2 wins from 5).
NOISE_THRESHOLD = 5.0
NOISE_THRESHOLDS = {4: 6.0}  # per scale, where it differs from NOISE_THRESHOLD
FLAT_FRACTION = 0.05  # of each band's pixels: the flattest, where the noise is measured
_KERNEL = ((1, -2, 1), (-2, 4, -2), (1, -2, 1))
_MAX_SIDE = 2048  # a larger image is measured on its central 2048 x 2048 (enough pixels, less time)


@dataclass(frozen=True)
class InputKind:
    """What an image carries: ``jpeg_quality`` (of a JPEG file, from its quantisation tables;
    None for other files) and ``noise`` (the estimated noise sigma, 8-bit units)."""

    jpeg_quality: int | None
    noise: float
    noise_threshold: float = NOISE_THRESHOLD  # the scale's (NOISE_THRESHOLDS)

    @property
    def compressed(self) -> bool:
        return self.jpeg_quality is not None and self.jpeg_quality <= JPEG_QUALITY_THRESHOLD

    @property
    def noisy(self) -> bool:
        return self.noise > self.noise_threshold

    @property
    def degraded(self) -> bool:
        """Compressed or noisy: what the models for real photos are for."""
        return self.compressed or self.noisy

    def describe(self) -> str:
        """``clean``, ``JPEG quality 72``, ``noisy (sigma 6.1)`` or both."""
        parts = [f"JPEG quality {self.jpeg_quality}"] if self.compressed else []
        parts += [f"noisy (sigma {self.noise:.1f})"] if self.noisy else []
        return ", ".join(parts) or "clean"


def _band_noise(band: np.ndarray, peak: float) -> float | None:
    """One band's noise sigma (in the band's units) over its flattest unclipped pixels; None
    when the band has too few."""
    height, width = band.shape
    residual = np.zeros((height - 2, width - 2), np.float32)
    for i, row in enumerate(_KERNEL):
        for j, weight in enumerate(row):
            residual += weight * band[i : i + height - 2, j : j + width - 2]
    inner = band[1:-1, 1:-1]
    gradient = np.abs(band[1:-1, 2:] - band[1:-1, :-2]) + np.abs(band[2:, 1:-1] - band[:-2, 1:-1])
    unclipped = (inner > 0) & (inner < peak)
    if unclipped.sum() < 64:
        return None
    candidates = gradient[unclipped]
    flat = unclipped & (gradient <= np.quantile(candidates, FLAT_FRACTION))
    return float(np.sqrt(np.pi / 2) * np.abs(residual[flat]).mean() / 6)


def noise_sigma(pixels: np.ndarray, *, has_alpha: bool = False) -> float:
    """The estimated standard deviation of white noise in ``pixels`` (H x W or H x W x C,
    8- or 16-bit), in 8-bit units: a 16-bit image's is scaled by 255 over its peak (the
    largest value of the bit depth in use). 0 for an image under 3 x 3 pixels or of another
    sample type."""
    if pixels.dtype not in (np.uint8, np.uint16):
        return 0.0
    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    bands = pixels.shape[2] - int(has_alpha and pixels.shape[2] in (2, 4))
    bands = min(bands, 3)
    top = max((pixels.shape[0] - _MAX_SIDE) // 2, 0)
    left = max((pixels.shape[1] - _MAX_SIDE) // 2, 0)
    pixels = pixels[top : top + _MAX_SIDE, left : left + _MAX_SIDE]
    if min(pixels.shape[:2]) < 3:
        return 0.0
    peak = 255.0
    if pixels.dtype == np.uint16:
        largest = int(pixels[:, :, :bands].max())
        peak = float(2 ** max(8, largest.bit_length()) - 1)
    sigmas = [_band_noise(pixels[:, :, b].astype(np.float32), peak) for b in range(bands)]
    sigmas = [s for s in sigmas if s is not None]
    return float(np.mean(sigmas)) * 255 / peak if sigmas else 0.0


def input_kind(
    pixels: np.ndarray, *, has_alpha: bool = False, source: str | Path | None = None, scale: int | None = None
) -> InputKind:
    """What ``pixels`` (the first page of an image, read from ``source`` if given) carry: the
    JPEG quality of ``source`` when it is a JPEG file, and the noise estimate, judged noisy
    or not by the threshold of ``scale``."""
    quality = None
    if source is not None:
        from superres.io import jpeg_quality

        quality = jpeg_quality(source)
    threshold = NOISE_THRESHOLDS.get(scale, NOISE_THRESHOLD) if scale else NOISE_THRESHOLD
    return InputKind(quality, noise_sigma(pixels, has_alpha=has_alpha), threshold)


def auto_model_name(kind: InputKind, scale: int) -> str:
    """The shipped model ``auto`` runs at ``scale`` on an input of this kind: the scale's
    model for real photos (``superres.zoo.REAL_PHOTO``) for a compressed or noisy input, the
    scale's PSNR default otherwise, and for a scale with no model for real photos."""
    from superres import zoo

    real = [m.name for m in zoo.SHIPPED if m.role == zoo.REAL_PHOTO and m.scale == scale]
    if kind.degraded and real:
        return real[0]
    return zoo.DEFAULTS.get(scale, "bicubic")
