"""Quality metrics computed the way the published SR tables compute them.

PSNR on the Y channel of YCbCr (BT.601, studio range 16..235) in float64, after cropping
HR to a multiple of the scale and ``crop_border`` pixels from every side.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0  # Y = 16 + these . RGB, all 0..255
SSIM_WINDOW = 11  # the side of SSIM's Gaussian window (sigma 1.5)
NIQE_BLOCK = 96  # the MATLAB NIQE's block side: an image needs one block at least
GRID_BLUR = 13  # the side of grid_strength's Gaussian blur (sigma 2)


def rgb_to_y(pixels: np.ndarray) -> np.ndarray:
    """Y (16..235) of an H x W x 3 RGB array with values 0..255; gray input is returned as is."""
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        return pixels.reshape(pixels.shape[:2])
    return 16.0 + pixels[..., :3] @ Y_WEIGHTS


def psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """PSNR in dB between two 0..255 images of equal size."""
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"size mismatch: {sr.shape} vs {hr.shape}")
    if y_channel:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    else:
        sr, hr = np.asarray(sr, np.float64), np.asarray(hr, np.float64)
    if crop_border:
        sr = sr[crop_border:-crop_border, crop_border:-crop_border]
        hr = hr[crop_border:-crop_border, crop_border:-crop_border]
    mse = np.mean((sr - hr) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def mod_crop(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of ``scale`` (bottom/right), as the benchmarks do."""
    h, w = pixels.shape[:2]
    return pixels[: h - h % scale, : w - w % scale]


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-(ax**2) / (2 * sigma**2))
    return g / g.sum()


def _gaussian_valid(planes: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """'valid' Gaussian filtering of a stack of planes (N x H x W) in float64, done as two
    1-D passes (the 2-D Gaussian is separable; same result, ~5x fewer operations)."""
    import torch

    g = torch.from_numpy(_gaussian_1d(size, sigma))
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float64))[None]
    channels = x.shape[1]
    x = torch.nn.functional.conv2d(x, g.view(1, 1, size, 1).repeat(channels, 1, 1, 1), groups=channels)
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, size).repeat(channels, 1, 1, 1), groups=channels)
    return x[0].numpy()


def _filter_replicate(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """2-D correlation in float64 with edge replication (MATLAB imfilter 'replicate')."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64))[None, None]
    ph, pw = window.shape[0] // 2, window.shape[1] // 2
    x = torch.nn.functional.pad(x, (pw, pw, ph, ph), mode="replicate")
    kernel = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float64))[None, None]
    return torch.nn.functional.conv2d(x, kernel)[0, 0].numpy()


def ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """SSIM of Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, 'valid' filtering,
    K1 = 0.01, K2 = 0.03, L = 255, as the MATLAB reference computes it; on Y by default
    (RGB: the mean over the three channels)."""
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"size mismatch: {sr.shape} vs {hr.shape}")
    if y_channel:
        planes = [(rgb_to_y(sr), rgb_to_y(hr))]
    else:
        sr, hr = np.atleast_3d(sr).astype(np.float64), np.atleast_3d(hr).astype(np.float64)
        planes = [(sr[..., c], hr[..., c]) for c in range(sr.shape[2])]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for a, b in planes:
        if crop_border:
            a = a[crop_border:-crop_border, crop_border:-crop_border]
            b = b[crop_border:-crop_border, crop_border:-crop_border]
        mu_a, mu_b, aa, bb, ab = _gaussian_valid(np.stack([a, b, a * a, b * b, a * b]), SSIM_WINDOW, 1.5)
        var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
        ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
            (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        )
        scores.append(ssim_map.mean())
    return float(np.mean(scores))


# --- NIQE (Mittal et al. 2013), following the released MATLAB code -------------------------

_SHAPE_GRID = np.arange(0.2, 10.001, 0.001)  # candidate AGGD shapes, as in the MATLAB code


def grid_strength(image: np.ndarray, period: int) -> float:
    """How strongly an image repeats a pattern every ``period`` pixels, the checkerboard that
    pixel-shuffle generators can learn: the spread (std) over the period x period pixel
    phases of the mean high-pass Y (Y minus a Gaussian blur, sigma 2). Natural images and
    good SR outputs score a few tenths; a visible grid scores 1 or more."""
    y = rgb_to_y(image)
    blurred = _gaussian_valid(y[None], GRID_BLUR, 2.0)[0]
    edge = GRID_BLUR // 2
    high = y[edge:-edge, edge:-edge] - blurred
    h, w = (high.shape[0] // period) * period, (high.shape[1] // period) * period
    phases = high[:h, :w].reshape(h // period, period, w // period, period).mean(axis=(0, 2))
    return float(phases.std())


@functools.cache
def _shape_ratio_grid() -> np.ndarray:
    """Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) for every candidate shape a."""
    g = np.vectorize(math.gamma)
    return g(2 / _SHAPE_GRID) ** 2 / (g(1 / _SHAPE_GRID) * g(3 / _SHAPE_GRID))


def _aggd_fit(values: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching: (shape, left scale, right scale)."""
    left_std = np.sqrt(np.mean(values[values < 0] ** 2))
    right_std = np.sqrt(np.mean(values[values > 0] ** 2))
    gamma_hat = left_std / right_std
    r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
    r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    shape = float(_SHAPE_GRID[np.argmin((_shape_ratio_grid() - r_hat_norm) ** 2)])
    to_scale = math.sqrt(math.gamma(1 / shape) / math.gamma(3 / shape))
    return shape, left_std * to_scale, right_std * to_scale


def _niqe_block_features(block: np.ndarray) -> list[float]:
    """18 features: the AGGD of the normalised block, then of its products with 4 neighbours."""
    shape, left, right = _aggd_fit(block.ravel())
    features = [shape, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        shape, left, right = _aggd_fit((block * np.roll(block, shift, axis=(0, 1))).ravel())
        mean = (right - left) * math.gamma(2 / shape) / math.gamma(1 / shape)
        features += [shape, mean, left, right]
    return features


def niqe(
    image: np.ndarray, params_path: str | Path, crop_border: int = 0, block_size: int = NIQE_BLOCK
) -> float:
    """NIQE of a 0..255 image (RGB: on its Y channel, rounded as the MATLAB code sees it);
    lower is more natural. ``params_path``: the released pristine-model ``.npz``."""
    import torch

    from superres.resize import imresize

    params = np.load(params_path)
    mu_pristine, cov_pristine = params["mu_pris_param"], params["cov_pris_param"]
    window = params["gaussian_window"]
    img = np.round(rgb_to_y(image))
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    rows, cols = img.shape[0] // block_size, img.shape[1] // block_size
    if rows == 0 or cols == 0:
        raise ValueError(
            f"NIQE needs at least {block_size}x{block_size} pixels, got {img.shape[1]}x{img.shape[0]}"
        )
    img = img[: rows * block_size, : cols * block_size]
    per_scale = []
    for scale in (1, 2):
        mu = _filter_replicate(img, window)
        sigma = np.sqrt(np.abs(_filter_replicate(img * img, window) - mu**2))
        normalised = (img - mu) / (sigma + 1)
        size = block_size // scale
        per_scale.append(
            [
                _niqe_block_features(normalised[r * size : (r + 1) * size, c * size : (c + 1) * size])
                for c in range(cols)
                for r in range(rows)
            ]
        )
        if scale == 1:
            img = imresize(torch.from_numpy(img / 255.0), scale=0.5).numpy() * 255.0
    features = np.concatenate([np.array(f) for f in per_scale], axis=1)
    mu_distorted = np.nanmean(features, axis=0)
    finite = features[~np.isnan(features).any(axis=1)]
    # MATLAB's nancov normalises a single observation by 1, not 0: one block has covariance 0.
    cov_distorted = np.cov(finite, rowvar=False, ddof=1 if len(finite) > 1 else 0)
    diff = mu_pristine - mu_distorted
    quality = diff @ np.linalg.pinv((cov_pristine + cov_distorted) / 2) @ diff.T
    return float(np.sqrt(np.squeeze(quality)))
