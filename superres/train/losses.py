"""Pixel losses. Each maps (prediction, target) to a scalar mean over the batch."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from superres.errors import SuperresError
from superres.metrics import Y_WEIGHTS

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def charbonnier(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """sqrt((x - y)^2 + eps^2): L1 that is smooth at zero (LapSRN's loss)."""
    return torch.sqrt((prediction - target) ** 2 + eps * eps).mean()


def luma(image: torch.Tensor) -> torch.Tensor:
    """The benchmark's Y channel (``superres.metrics.rgb_to_y``, less its constant offset,
    which no loss sees) of an N x 3 x H x W RGB batch in 0..1; a one-channel batch is
    returned as is."""
    if image.shape[1] == 1:
        return image
    weights = image.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)
    return (image * weights).sum(1, keepdim=True)


def y_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE on the luma alone, what Y-PSNR scores: an RGB network trained with it spends no
    capacity on colour, so pair it with a small RGB loss to keep the colour anchored."""
    return F.mse_loss(luma(prediction), luma(target))


def psnr(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Minus the mean per-sample PSNR in dB (HINet's PSNR loss, less its constant). Benchmarks
    average PSNR per image, which weighs each image's error by 1 / its MSE; MSE over a batch
    weighs the worst patches most instead. ``eps`` (a 50 dB ceiling) keeps flat patches from
    taking over the batch."""
    per_sample = ((prediction - target) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(per_sample + eps).mean()


LOWPASS_SIGMA = 2.0  # HR pixels: at x4 it keeps most of what the LR image holds (period >= 8 px)


def lowpass(image: torch.Tensor, sigma: float = LOWPASS_SIGMA) -> torch.Tensor:
    """An N x C x H x W batch blurred by a Gaussian (reflected borders): its low frequencies."""
    radius = int(3 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def highpass(image: torch.Tensor) -> torch.Tensor:
    """What :func:`lowpass` leaves out: edges and texture."""
    return image - lowpass(image)


def l1_lowpass(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on the low frequencies only (frequency separation, Fritsche et al. 2019): colour and
    shape are held to the target, the texture above them is left to the adversarial loss."""
    return F.l1_loss(lowpass(prediction), lowpass(target))


PIXEL_LOSSES: dict[str, Loss] = {
    "l1": F.l1_loss,
    "l1_lowpass": l1_lowpass,
    "mse": F.mse_loss,
    "charbonnier": charbonnier,
    "y_mse": y_mse,
    "psnr": psnr,
}


def pixel_loss(name: str) -> Loss:
    try:
        return PIXEL_LOSSES[name]
    except KeyError:
        raise SuperresError(f"unknown loss {name!r}; choose from {', '.join(PIXEL_LOSSES)}") from None


# --- adversarial losses ---------------------------------------------------------------------
# Each takes the discriminator's logits on real and fake images and returns the scalar loss
# for the discriminator or for the generator. "ragan" is ESRGAN's relativistic average GAN.

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "ragan")


def check_gan_loss(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise SuperresError(f"unknown GAN loss {kind!r}; choose from {', '.join(GAN_LOSSES)}")


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    check_gan_loss(kind)
    if kind == "vanilla":
        return _bce(real, 1.0) + _bce(fake, 0.0)
    if kind == "lsgan":
        return ((real - 1) ** 2).mean() + (fake**2).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return (_bce(real - fake.mean(), 1.0) + _bce(fake - real.mean(), 0.0)) / 2  # ragan


def generator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``real`` is only used by the relativistic loss (detach it for the generator step)."""
    check_gan_loss(kind)
    if kind == "vanilla":
        return _bce(fake, 1.0)
    if kind == "lsgan":
        return ((fake - 1) ** 2).mean()
    if kind == "hinge":
        return -fake.mean()
    return (_bce(real - fake.mean(), 0.0) + _bce(fake - real.mean(), 1.0)) / 2  # ragan


def feature_matching_loss(
    real_features: list[torch.Tensor], fake_features: list[torch.Tensor]
) -> torch.Tensor:
    """Mean L1 distance between the discriminator's inner features of real and fake images
    (Salimans et al. 2016; pix2pixHD). Needs no pretrained network."""
    terms = [F.l1_loss(fake, real.detach()) for real, fake in zip(real_features, fake_features, strict=True)]
    return torch.stack(terms).mean()
