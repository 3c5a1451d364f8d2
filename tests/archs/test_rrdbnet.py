"""RRDBNet (ESRGAN / Real-ESRGAN): the Real-ESRGAN x4plus file, by the file alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.evaluate import make_lr
from superres.io import read_image
from superres.metrics import psnr
from superres.resize import imresize
from tests.archs.vectors import load_real


@pytest.mark.slow
def test_realesrgan_x4plus_is_detected_and_gives_a_faithful_picture(shared):
    """A GAN: not PSNR-oriented, but on a 48 x 48 crop of Set5's butterfly it stays within
    3 dB of bicubic (a wrong layout or value range loses tens of dB)."""
    network, arch, params = load_real("realesrgan/realesrgan-x4plus.safetensors")
    assert arch == "rrdbnet" and params["num_block"] == 23 and network.scale == 4
    hr = read_image(shared / "data/test/Set5/butterfly.png").pixels[:192, :192, :3]
    lr = torch.from_numpy(make_lr(hr, 4)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        sr = network.eval()(lr)
    sr_db, bicubic_db = (
        psnr((t[0].clamp(0, 1) * 255).round().permute(1, 2, 0).double().numpy(), hr.astype(np.float64), 4)
        for t in (sr, imresize(lr, scale=4))
    )
    assert sr_db > bicubic_db - 3, (sr_db, bicubic_db)
