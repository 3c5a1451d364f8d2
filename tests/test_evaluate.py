"""The benchmark protocol reproduces the published bicubic and IMDN tables."""

from __future__ import annotations

import pytest

from superres.evaluate import EvalOptions, evaluate_folder
from superres.models import load_model


# Published values (RCAN table 3 for bicubic; the IMDN paper for IMDN), PSNR dB / SSIM.
@pytest.mark.parametrize(
    ("set_name", "expected_psnr"),
    [("Set5", 28.42), ("BSD100", 25.96)],
)
@pytest.mark.slow
def test_bicubic_x4_reproduces_the_published_table(shared, set_name, expected_psnr):
    result = evaluate_folder(load_model("bicubic", scale=4), shared / "data/test" / set_name)
    assert result.mean("psnr") == pytest.approx(expected_psnr, abs=0.03)


@pytest.mark.slow
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
@pytest.mark.slow
def test_official_imdn_x4_reproduces_the_paper(shared, set_name, expected_psnr, expected_ssim, gray_as_rgb):
    model = load_model(shared / "weights/imdn/IMDN_x4.pth")
    result = evaluate_folder(model, shared / "data/test" / set_name, EvalOptions(gray_as_rgb=gray_as_rgb))
    assert result.mean("psnr") == pytest.approx(expected_psnr, abs=0.03)
    assert result.mean("ssim") == pytest.approx(expected_ssim, abs=0.002)


@pytest.mark.slow
def test_gray_as_itself_is_the_default(shared):
    model = load_model(shared / "weights/imdn/IMDN_x4.pth")
    default = evaluate_folder(model, shared / "data/test/Set14").mean("psnr")
    assert default == pytest.approx(28.49, abs=0.03)  # bridge.png compared on its gray values
