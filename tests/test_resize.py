"""The MATLAB-compatible bicubic resize, pinned against MATLAB-made LR images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.evaluate import make_lr
from superres.io import read_image
from superres.metrics import mod_crop
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
