"""Real-world degradation synthesis and the LR sources of the training data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from superres.evaluate import make_lr
from superres.io import read_image
from superres.train.data import PairedPatches, PatchSpec
from superres.train.degradations import (
    DegradationConfig,
    DegradationStage,
    degrade,
    gaussian_kernel,
    sinc_kernel,
)
from superres.train.recipe import load_recipe
from superres.train.trainer import train

ROOT = Path(__file__).resolve().parents[2]


def test_kernels():
    iso = gaussian_kernel(21, 2.0, 2.0, 0.0)
    assert abs(iso.sum() - 1) < 1e-9
    assert np.allclose(iso, iso.T) and np.allclose(iso, iso[::-1])
    aniso = gaussian_kernel(21, 3.0, 0.5, 0.0)
    assert aniso[10].sum() > aniso[:, 10].sum()  # wide along x, narrow along y
    turned = gaussian_kernel(21, 3.0, 0.5, math.pi / 2)
    assert np.allclose(turned, aniso.T, atol=1e-9)
    plateau = gaussian_kernel(21, 2.0, 2.0, 0.0, beta=4.0)
    assert plateau[10, 11] / plateau[10, 10] > iso[10, 11] / iso[10, 10]  # flatter top than the Gaussian
    sinc = sinc_kernel(21, math.pi / 3)
    assert abs(sinc.sum() - 1) < 1e-9 and sinc.min() < 0  # ringing lobes


def test_degrade_is_seeded_sized_and_quantised():
    hr = torch.rand(3, 64, 64)
    config = DegradationConfig()
    a = degrade(hr, 4, config, np.random.default_rng(7))
    b = degrade(hr, 4, config, np.random.default_rng(7))
    c = degrade(hr, 4, config, np.random.default_rng(8))
    assert a.shape == (3, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and torch.equal((a * 255).round(), a * 255)


def test_degradation_with_everything_off_is_a_plain_resize():
    off = DegradationStage(blur_prob=0.0, resize_prob={"keep": 1.0}, noise_sigma=[0.0, 0.0],
                           gaussian_noise_prob=1.0, jpeg_quality=[100, 100])  # fmt: skip
    flat = torch.full((3, 32, 32), 0.5)
    lr = degrade(flat, 2, DegradationConfig(stages=[off], final_sinc_prob=0.0), np.random.default_rng(0))
    assert lr.shape == (3, 16, 16) and (lr - 0.5).abs().max() <= 1.5 / 255


def test_clean_prob_leaves_a_share_of_samples_as_the_protocol_s_bicubic_lr():
    hr_uint8 = (np.random.default_rng(3).random((32, 32, 3)) * 255).astype(np.uint8)
    hr = torch.from_numpy(hr_uint8.transpose(2, 0, 1).astype(np.float32)) / 255
    bicubic = torch.from_numpy(make_lr(hr_uint8, 4).transpose(2, 0, 1).astype(np.float32)) / 255
    config = DegradationConfig(clean_prob=0.5)
    samples = [degrade(hr, 4, config, np.random.default_rng(seed)) for seed in range(40)]
    clean = [lr for lr in samples if (lr - bicubic).abs().max() <= 1.01 / 255]  # one rounding apart
    assert 10 <= len(clean) <= 30


def test_paired_lr_folders_match_bicubic_made_lr(shared, tmp_path):
    hr_dir, lr_dir = tmp_path / "HR", tmp_path / "LR"
    hr_dir.mkdir()
    lr_dir.mkdir()
    for path in sorted((shared / "data/train/T91").glob("*.bmp"))[:6]:
        pixels = read_image(path).pixels
        pixels = pixels[: pixels.shape[0] // 2 * 2, : pixels.shape[1] // 2 * 2]
        Image.fromarray(pixels).save(hr_dir / f"{path.stem}.png")
        Image.fromarray(make_lr(pixels, 2)).save(lr_dir / f"{path.stem}x2.png")
    spec = PatchSpec(2, 16)
    paired = PairedPatches([hr_dir], spec, seed=1, lr_folders=[lr_dir])
    made = PairedPatches([hr_dir], spec, seed=1)
    for k in (0, 5, 99):
        assert all(torch.equal(x, y) for x, y in zip(paired[k], made[k], strict=True))


def test_real_world_degradation_recipe_trains(shared, tmp_path):
    overrides = [f"output={tmp_path}", f"data.train=[{shared / 'data/train/T91'}]", "val.sets=[]"]
    overrides += [
        "train.iterations=3",
        "data.scale=4",
        "data.patch_size=16",
        "data.degradation={final_sinc_prob: 0.5}",
    ]
    recipe = load_recipe(ROOT / "recipes/tiny-test.yaml", overrides)
    assert len(recipe.data.degradation.stages) == 2
    path, card = train(recipe, progress=False)
    assert path.is_file() and card["scale"] == 4
    # a model for real-world LR: its card says so, and it is never a scale's default (which
    # is chosen among the clean-bicubic PSNR models)
    assert card["kind"] == "real" and card["training"]["degradation"]["final_sinc_prob"] == 0.5
