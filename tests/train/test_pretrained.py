"""Starting a run from pretrained weights of another scale: the pixel-shuffle conv resampled
(``network.pretrained_resample``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from superres.archs import build_network
from superres.errors import SuperresError
from superres.evaluate import make_lr
from superres.io import read_image
from superres.metrics import psnr
from superres.train.pretrained import load_pretrained, resample_subpixel
from superres.train.recipe import NetworkConfig, load_recipe
from superres.train.trainer import train

ROOT = Path(__file__).resolve().parents[2]


def test_a_conv_that_fills_every_sub_pixel_alike_still_does():
    per_colour = torch.randn(3, 1, 8, 3, 3)  # colour c's weights, the same for its 16 sub-pixels
    weight = per_colour.expand(3, 16, 8, 3, 3).reshape(48, 8, 3, 3)
    resampled = resample_subpixel(weight, 4, 3)
    assert resampled.shape == (27, 8, 3, 3)
    assert torch.allclose(resampled.reshape(3, 9, 8, 3, 3), per_colour.expand(3, 9, 8, 3, 3), atol=1e-6)


@pytest.mark.parametrize(("source", "scale"), [(4, 3), (2, 3), (2, 4), (4, 2)])
def test_a_bias_that_ramps_with_the_position_is_read_at_the_new_positions(source, scale):
    """Sub-pixel (i, j) sits at ((i + 0.5) / r, (j + 0.5) / r) of its LR pixel: a bias linear
    in that position stays linear, clamped at the outermost source sub-pixels."""

    def ramp(r: int) -> torch.Tensor:
        centre = (torch.arange(r) + 0.5) / r
        return (2 * centre[:, None] + 3 * centre[None, :]).flatten()

    resampled = resample_subpixel(ramp(source), source, scale)
    low, high = 0.5 / source, 1 - 0.5 / source
    centre = ((torch.arange(scale) + 0.5) / scale).clamp(low, high)
    assert torch.allclose(resampled, (2 * centre[:, None] + 3 * centre[None, :]).flatten(), atol=1e-6)


def test_no_resampling_for_the_same_scale_or_a_tensor_that_is_not_sub_pixel_outputs():
    assert resample_subpixel(torch.ones(48), 4, 4) is None
    assert resample_subpixel(torch.ones(50, 8, 3, 3), 4, 3) is None


def test_rlfn_s_x4_resampled_to_x3_upscales_before_any_training(shared):
    """The publishers' x4 RLFN-S with its upsampler resampled already scores near a trained x3
    network on Set5's baby; left at random (``pretrained_partial`` alone) it does not."""
    hr = read_image(shared / "data/test/Set5/baby.png").page(0).pixels[:510, :510]
    lr = make_lr(hr, 3).astype(np.float32) / 255
    params = {"scale": 3, "feature_channels": 48, "mid_channels": 48, "esa_channels": 16, "num_blocks": 6}
    scores = {}
    for resample in (False, True):
        torch.manual_seed(0)
        network = build_network("rlfn", **params).eval()
        config = NetworkConfig(
            "rlfn", params, str(shared / "weights/rlfn/rlfn_s_x4.pth"), True, pretrained_resample=resample
        )
        left = load_pretrained(network, "rlfn", params, config)
        assert left == ([] if resample else ["upsampler.0.bias", "upsampler.0.weight"])
        with torch.no_grad():
            out = network(torch.from_numpy(lr).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
        out = (out.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        scores[resample] = psnr(out, hr, crop_border=3)
    assert scores[True] > 35 and scores[False] < 20, scores


def test_resample_without_partial_is_refused_before_the_run_folder(shared, tmp_path):
    recipe = load_recipe(
        ROOT / "recipes/tiny-test.yaml",
        [f"output={tmp_path}", "network.pretrained=compact-x2-kd", "network.pretrained_resample=true"],
    )
    with pytest.raises(SuperresError, match=r"pretrained_resample needs network\.pretrained_partial"):
        train(recipe, progress=False)
    assert not recipe.run_dir.exists()
