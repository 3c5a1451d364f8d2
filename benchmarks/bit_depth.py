"""Does 12-bit data in 16-bit samples upscale as well as the same data at 8 bits?

Each Set5 LR image is requantised to 12 bits (0..4095) and stored in uint16; its upscaled
result is scored against the HR image at 12 bits (Y-PSNR, crop = scale, in 8-bit units).
Rows: the 8-bit image itself; the 12-bit one as ``upscale_image`` maps it (by the bit depth
in use, / 4095); and the same divided by 65535, as superres did before (a dim, flat image).

Usage: python benchmarks/bit_depth.py [--model compact64-x4-kd] [--shared ../shared]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from superres.api import UpscaleOptions, upscale_image
from superres.engine.rows import upscale_page
from superres.engine.values import Page, ValueMapping
from superres.evaluate import iter_pairs
from superres.io import ImageData
from superres.metrics import psnr
from superres.models import load_model


def _psnr_12bit(sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
    """Y-PSNR of two 12-bit images, in 8-bit units as the published protocol computes it."""
    return psnr(sr.astype(np.float64) * 255 / 4095, hr * 255 / 4095, crop_border=scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="compact64-x4-kd")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    args = parser.parse_args()
    model = load_model(args.model, precision="fp32")
    rows: dict[str, list[float]] = {"8-bit": [], "12-bit, / 4095 (now)": [], "12-bit, / 65535 (before)": []}
    for _, hr, lr in iter_pairs(args.shared / "data/test/Set5", model.scale):
        lr12 = np.round(lr.astype(np.float64) * 4095 / 255).astype(np.uint16)
        hr12 = np.round(hr.astype(np.float64) * 4095 / 255)
        now = upscale_image(model, ImageData(lr12)).pixels
        page = Page(ImageData(lr12), None, ValueMapping(0.0, 65535.0))
        before = upscale_page(model, page, UpscaleOptions())
        rows["8-bit"].append(psnr(upscale_image(model, ImageData(lr)).pixels, hr, crop_border=model.scale))
        rows["12-bit, / 4095 (now)"].append(_psnr_12bit(now, hr12, model.scale))
        rows["12-bit, / 65535 (before)"].append(_psnr_12bit(before, hr12, model.scale))
    print(f"{args.model}, Set5 Y-PSNR (dB)")
    for label, values in rows.items():
        print(f"  {label:<26} {np.mean(values):.2f}")


if __name__ == "__main__":
    main()
