"""Quality metrics computed the way the published SR tables compute them.

PSNR on the Y channel of YCbCr (BT.601, studio range 16..235) in float64, after cropping
HR to a multiple of the scale and ``crop_border`` pixels from every side.
"""

from __future__ import annotations

import numpy as np

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(pixels: np.ndarray) -> np.ndarray:
    """Y (16..235) of an H x W x 3 RGB array with values 0..255; gray input is returned as is."""
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        return pixels.reshape(pixels.shape[:2])
    return 16.0 + pixels[..., :3] @ _Y_WEIGHTS


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
