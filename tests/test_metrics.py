"""Quality metrics pinned against their references: PSNR, SSIM, MATLAB NIQE and the grid strength."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from superres.evaluate import make_lr
from superres.io import read_image
from superres.metrics import niqe, psnr, rgb_to_y, ssim
from superres.models import load_model


def test_psnr_and_ssim_basics():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8)
    # a uniform +5 on RGB is +5 * 219/255 on Y (studio range)
    expected = 10 * np.log10(255**2 / np.mean((rgb_to_y(b) - rgb_to_y(a)) ** 2))
    assert psnr(b, a) == pytest.approx(expected)
    assert psnr(b, a, y_channel=False) < psnr(b, a)
    gray = a[:, :, :1]
    assert psnr(gray, gray[::-1]) == psnr(gray[:, :, 0], gray[::-1, :, 0])  # gray compared as itself


def test_niqe_matches_matlab_on_baboon(shared):
    image = read_image(shared / "data/test/Set14/baboon.png").pixels
    assert niqe(image, shared / "data/niqe/niqe_pris_params.npz") == pytest.approx(5.7296, abs=0.01)


def test_niqe_prefers_the_photo_to_its_blurred_upscale(shared):
    params = shared / "data/niqe/niqe_pris_params.npz"
    hr = read_image(shared / "data/test/BSD100/img_001_SRF_4_HR.png").pixels
    blurry = load_model("bicubic", scale=4)(torch.from_numpy(make_lr(hr, 4)).permute(2, 0, 1)[None] / 255.0)
    blurry = (blurry[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert niqe(hr, params) + 1 < niqe(blurry, params)


def test_niqe_of_an_image_of_one_block(shared, tmp_path, capsys):
    """One 96-pixel block has a covariance of 0, as MATLAB's nancov gives for one observation
    (numpy's gave NaN and a LinAlgError traceback); smaller images are a one-line error."""
    from superres.cli import main

    params = shared / "data/niqe/niqe_pris_params.npz"
    crop = read_image(shared / "data/test/Set14/baboon.png").pixels[:100, :100]
    one_block = niqe(crop, params)
    assert np.isfinite(one_block) and one_block > 0
    assert niqe(crop[:96, :96], params) == one_block  # the block is all that is scored
    Image.fromarray(crop[:80, :80]).save(tmp_path / "small.png")
    assert main(["eval", "-m", "bicubic", "-s", "4", "--data", str(tmp_path), "--metrics", "niqe", "-q"]) == 1
    assert "small is 80x80: too small for NIQE's 96-pixel blocks" in capsys.readouterr().err


def test_grid_strength_sees_a_periodic_pattern_and_not_natural_texture(shared):
    from superres.io import read_image
    from superres.metrics import grid_strength

    baboon = read_image(shared / "data/test/Set14/baboon.png").pixels
    gridded = baboon.astype(np.float64)
    gridded[::4, ::4] += 6.0  # a faint dot every 4 pixels, as a pixel-shuffle artefact
    assert grid_strength(baboon, 4) < 0.3
    assert grid_strength(gridded, 4) > 1.0 and grid_strength(gridded, 3) < 0.3
