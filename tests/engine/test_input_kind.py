"""What an input carries (superres.engine.input_kind) and what ``auto`` picks for it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from superres import zoo
from superres.engine.auto import AutoModels
from superres.engine.input_kind import (
    JPEG_QUALITY_THRESHOLD,
    NOISE_THRESHOLD,
    InputKind,
    auto_model_name,
    input_kind,
    noise_sigma,
)
from superres.evaluate import iter_pairs
from tests.conftest import smooth_image


def _noisy(pixels: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, pixels.shape)
    return np.clip(np.round(pixels + noise), 0, 255).astype(np.uint8)


def _real_photo(scale: int) -> str:
    return next(m.name for m in zoo.SHIPPED if m.role == zoo.REAL_PHOTO and m.scale == scale)


@pytest.mark.parametrize("sigma", [2, 4, 7, 12])
def test_the_noise_of_a_smooth_image_is_recovered(sigma):
    """White Gaussian noise of a known sigma reads back within 15% on a smooth picture; the
    picture alone reads under 0.5."""
    clean = smooth_image(160, 200)
    assert noise_sigma(clean) < 0.5
    assert noise_sigma(_noisy(clean, sigma)) == pytest.approx(sigma, rel=0.15)


def test_a_16_bit_image_reads_in_8_bit_units_and_alpha_is_left_out():
    clean = smooth_image(120, 120).astype(np.uint16) * 257
    noisy = np.clip(clean + np.random.default_rng(2).normal(0, 6 * 257, clean.shape), 0, 65535)
    assert noise_sigma(noisy.astype(np.uint16)) == pytest.approx(6, rel=0.15)
    alpha = np.random.default_rng(3).integers(0, 256, (120, 120, 1), dtype=np.uint8)  # noise-like
    with_alpha = np.concatenate([smooth_image(120, 120, channels=1), alpha], axis=2)  # gray + alpha
    assert noise_sigma(with_alpha, has_alpha=True) < 0.5 < noise_sigma(with_alpha)


def test_tiny_flat_and_float_images_read_no_noise():
    assert noise_sigma(np.zeros((2, 9, 3), np.uint8)) == 0
    assert noise_sigma(np.full((50, 50), 255, np.uint8)) == 0  # all clipped
    assert noise_sigma(np.random.default_rng(0).random((30, 30)).astype(np.float32)) == 0


def test_clean_protocol_lr_reads_under_the_threshold(shared):
    """Set5's clean x4 LR images (MATLAB bicubic) read well under the threshold; with noise
    sigma 7 added, every one reads over it."""
    pairs = list(iter_pairs(shared / "data/test/Set5", 4))
    clean = [noise_sigma(lr) for _, _, lr in pairs]
    assert max(clean) < NOISE_THRESHOLD / 1.5, clean
    noisy = [noise_sigma(_noisy(lr, 7)) for _, _, lr in pairs]
    assert min(noisy) > NOISE_THRESHOLD, noisy


def test_a_jpeg_file_reads_its_quality(tmp_path):
    pixels = smooth_image(64, 64)
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=60)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    jpeg = input_kind(pixels, source=tmp_path / "a.jpg")
    assert jpeg.jpeg_quality == 60 and jpeg.compressed and jpeg.describe() == "JPEG quality 60"
    png = input_kind(pixels, source=tmp_path / "a.png")
    assert png.jpeg_quality is None and not png.degraded and png.describe() == "clean"


def test_the_pick_follows_what_an_input_carries():
    default4, default3 = zoo.DEFAULTS[4], zoo.DEFAULTS[3]
    assert auto_model_name(InputKind(None, 1.0), 4) == default4
    assert auto_model_name(InputKind(95, 1.0), 4) == default4
    assert auto_model_name(InputKind(JPEG_QUALITY_THRESHOLD, 1.0), 4) == _real_photo(4)
    assert auto_model_name(InputKind(None, NOISE_THRESHOLD + 1), 2) == _real_photo(2)
    assert auto_model_name(InputKind(50, 9.0), 3) == default3  # no model for real photos at x3
    assert InputKind(70, 8.0).describe() == "JPEG quality 70, noisy (sigma 8.0)"


def test_auto_models_load_each_model_once_and_count_their_picks(tmp_path):
    loads: list[str] = []
    auto = AutoModels(4, lambda name: loads.append(name) or name)
    clean, noisy = smooth_image(64, 64), _noisy(smooth_image(64, 64), 10)
    picks = [auto.for_pixels(p)[0] for p in (clean, noisy, clean, noisy)]
    assert picks == [zoo.DEFAULTS[4], _real_photo(4)] * 2
    assert sorted(loads) == sorted({zoo.DEFAULTS[4], _real_photo(4)})
    assert auto.summary().startswith(f"{zoo.DEFAULTS[4]} for 2, {_real_photo(4)} for 2 (noisy (sigma")


def test_the_noise_threshold_is_the_scales():
    """x4's default (RLFN-S) still beats real-photo-x4 at sigma 5 on Set14, x2's does not
    (benchmarks/AUTO_PICK.md): an image reading 5.5 is noisy at x2, not at x4."""
    pixels = _noisy(smooth_image(96, 96), 5.5)
    at_x2, at_x4 = (input_kind(pixels, scale=s) for s in (2, 4))
    assert at_x2.noise == at_x4.noise and 5 < at_x2.noise < 6, at_x2.noise
    assert at_x2.noisy and not at_x4.noisy
    assert auto_model_name(at_x2, 2) == _real_photo(2) and auto_model_name(at_x4, 4) == zoo.DEFAULTS[4]
