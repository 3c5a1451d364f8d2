"""The benchmark protocol pinned against its references: MATLAB-made LR images, the
published bicubic and IMDN tables, and MATLAB NIQE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from superres.evaluate import EvalOptions, evaluate_folder, make_lr
from superres.io import read_image
from superres.metrics import mod_crop, niqe, psnr, rgb_to_y, ssim
from superres.models import load_model
from superres.resize import imresize

SET5 = ("baby", "bird", "butterfly", "head", "woman")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_downscale_matches_matlab_made_lr(shared, scale):
    diffs = []
    for name in SET5:
        hr = mod_crop(read_image(shared / f"data/test/Set5/{name}.png").pixels, scale)
        matlab = read_image(shared / f"data/test-lr/Set5/x{scale}/{name}.png").pixels
        ours = make_lr(hr, scale)
        assert ours.shape == matlab.shape
        diffs.append(np.abs(ours.astype(int) - matlab.astype(int)).ravel())
    diff = np.concatenate(diffs)
    assert np.mean(diff <= 1) >= 0.99  # identical up to rounding on >= 99% of values
    assert np.mean(diff == 0) >= 0.985
    assert diff.mean() <= 0.2


def test_resize_keeps_flat_images_flat_and_matches_size_rules():
    x = torch.full((1, 3, 7, 9), 0.25, dtype=torch.float64)
    for scale in (0.5, 1 / 3, 2.0, 3.0):
        y = imresize(x, scale=scale)
        assert y.shape[-2:] == (int(np.ceil(7 * scale)), int(np.ceil(9 * scale)))
        assert torch.allclose(y, torch.full_like(y, 0.25))
    assert imresize(x, size=(10, 4)).shape[-2:] == (10, 4)


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


# Published values (RCAN table 3 for bicubic; the IMDN paper for IMDN), PSNR dB / SSIM.
@pytest.mark.parametrize(
    ("set_name", "expected_psnr"),
    [("Set5", 28.42), ("BSD100", 25.96)],
)
def test_bicubic_x4_reproduces_the_published_table(shared, set_name, expected_psnr):
    result = evaluate_folder(load_model("bicubic", scale=4), shared / "data/test" / set_name)
    assert result.mean("psnr") == pytest.approx(expected_psnr, abs=0.03)


def test_bicubic_x4_set14_within_a_tenth(shared):
    result = evaluate_folder(load_model("bicubic", scale=4), shared / "data/test/Set14")
    assert result.mean("psnr") == pytest.approx(26.00, abs=0.1)


@pytest.mark.parametrize(
    ("set_name", "expected_psnr", "expected_ssim", "gray_as_rgb"),
    [
        ("Set5", 32.21, 0.8948, False),
        ("Set14", 28.58, 0.7811, True),  # IMDN's table replicated the gray bridge.png to RGB
        ("BSD100", 27.56, 0.7353, False),
    ],
)
def test_official_imdn_x4_reproduces_the_paper(shared, set_name, expected_psnr, expected_ssim, gray_as_rgb):
    model = load_model(shared / "weights/imdn/IMDN_x4.pth")
    result = evaluate_folder(model, shared / "data/test" / set_name, EvalOptions(gray_as_rgb=gray_as_rgb))
    assert result.mean("psnr") == pytest.approx(expected_psnr, abs=0.03)
    assert result.mean("ssim") == pytest.approx(expected_ssim, abs=0.002)


def test_gray_as_itself_is_the_default(shared):
    model = load_model(shared / "weights/imdn/IMDN_x4.pth")
    default = evaluate_folder(model, shared / "data/test/Set14").mean("psnr")
    assert default == pytest.approx(28.49, abs=0.03)  # bridge.png compared on its gray values


def test_grid_strength_sees_a_periodic_pattern_and_not_natural_texture(shared):
    from superres.io import read_image
    from superres.metrics import grid_strength

    baboon = read_image(shared / "data/test/Set14/baboon.png").pixels
    gridded = baboon.astype(np.float64)
    gridded[::4, ::4] += 6.0  # a faint dot every 4 pixels, as a pixel-shuffle artefact
    assert grid_strength(baboon, 4) < 0.3
    assert grid_strength(gridded, 4) > 1.0 and grid_strength(gridded, 3) < 0.3
