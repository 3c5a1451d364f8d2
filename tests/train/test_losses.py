"""Pixel losses measured as the benchmarks measure."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_y_mse_is_the_benchmarks_luma_error():
    """y_mse: the MSE of the Y that Y-PSNR measures, blind to colour changes that keep Y."""
    from torch.nn import functional as F

    from superres.metrics import rgb_to_y
    from superres.train.losses import pixel_loss

    y_mse = pixel_loss("y_mse")
    a, b = torch.rand(2, 2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    as_y = lambda t: rgb_to_y(t.permute(0, 2, 3, 1).numpy() * 255)  # noqa: E731
    assert float(y_mse(a, b)) == pytest.approx(np.mean((as_y(a) - as_y(b)) ** 2) / 255**2, rel=1e-9)
    w = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64)
    colour_only = torch.stack([w[1], -w[0], torch.tensor(0.0, dtype=torch.float64)]) / 1000  # w . it = 0
    shifted = a + colour_only.view(1, 3, 1, 1)
    assert float(y_mse(a, shifted)) < 1e-20 < float(F.mse_loss(a, shifted))
    assert float(y_mse(a[:, :1], b[:, :1])) == float(F.mse_loss(a[:, :1], b[:, :1]))  # gray: as is


def test_psnr_loss_is_minus_the_mean_per_sample_psnr():
    """psnr: minus the benchmarks' per-image mean PSNR over the batch, capped at 50 dB, so a
    sample's gradient scales with 1 / its error (MSE weighs the worst sample most)."""
    from superres.metrics import psnr as metric_psnr
    from superres.train.losses import pixel_loss

    loss = pixel_loss("psnr")
    rng = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=rng)
    sigma = torch.tensor([0.01, 0.1], dtype=torch.float64).view(2, 1, 1, 1)
    noise = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=rng) * sigma
    prediction = (target + noise).clamp(0, 1)
    as_image = lambda t: t.permute(1, 2, 0).numpy() * 255  # noqa: E731
    pairs = zip(prediction, target, strict=True)
    per_image = [metric_psnr(as_image(p), as_image(t), y_channel=False) for p, t in pairs]
    capped = [-10 * np.log10(10 ** (-p / 10) + 1e-5) for p in per_image]  # PSNR of MSE + eps
    assert float(loss(prediction, target)) == pytest.approx(-np.mean(capped), rel=1e-9)
    assert abs(capped[1] - per_image[1]) < 0.01  # eps barely moves a typical 20-30 dB sample
    assert float(loss(target, target)) == pytest.approx(-50.0)  # a perfect sample: the 50 dB ceiling

    prediction.requires_grad_(True)
    loss(prediction, target).backward()
    gradient_norm = prediction.grad.flatten(1).norm(dim=1)
    assert gradient_norm[0] > 5 * gradient_norm[1]  # the 10x smaller error pulls harder
