"""Which CPU precision mode may be the default? Set5 Y-PSNR and speed of each mode.

A mode qualifies only if it moves Set5 PSNR by at most 0.01 dB against fp32 eager.
Usage: python benchmarks/precision.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from superres.inference import TileOptions, upscale_tensor
from superres.io import read_image
from superres.metrics import mod_crop, psnr
from superres.models import load_model
from superres.resize import imresize

MODES = [  # (label, precision, channels_last)
    ("fp32 eager", "fp32", False),
    ("fp32 channels_last", "fp32", True),
    ("bf16 autocast + channels_last", "bf16", True),
]


def set5_psnr_and_time(model, hr_images, scale):
    scores, seconds = [], 0.0
    for hr in hr_images:
        hr = mod_crop(hr, scale).astype(np.float64)
        lr = imresize(torch.from_numpy(hr).permute(2, 0, 1), scale=1 / scale, uint8_path=True)
        x = (lr / 255).float()[None]
        start = time.perf_counter()
        sr = upscale_tensor(model, x, TileOptions(tile=0))[0]
        seconds += time.perf_counter() - start
        sr = (sr.clamp(0, 1) * 255).round().permute(1, 2, 0).double().numpy()
        scores.append(psnr(sr, hr, crop_border=scale))
    return float(np.mean(scores)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    args = parser.parse_args()
    torch.set_num_threads(2)
    set5 = sorted((args.shared / "data/test/Set5").glob("*.png"))
    hr_images = [read_image(p).pixels for p in set5]
    weights = {
        "IMDN x2": (args.shared / "weights/imdn/IMDN_x2.pth", 2),
        "IMDN x4": (args.shared / "weights/imdn/IMDN_x4.pth", 4),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | mode | Set5 PSNR | delta vs fp32 | time (s) | speed-up |")
    print("|---|---|---|---|---|---|")
    for label, (path, scale) in weights.items():
        base_psnr = base_time = None
        for mode, precision, channels_last in MODES:
            model = load_model(path, precision=precision, channels_last=channels_last)
            set5_psnr_and_time(model, hr_images[:1], scale)  # warm-up
            value, seconds = set5_psnr_and_time(model, hr_images, scale)
            if base_psnr is None:
                base_psnr, base_time = value, seconds
            print(
                f"| {label} | {mode} | {value:.4f} | {value - base_psnr:+.4f} | {seconds:.2f} "
                f"| {base_time / seconds:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
