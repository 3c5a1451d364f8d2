"""Perceptual quality of the x4 GAN model: NIQE (lower = more natural) and Y-PSNR on Set5,
Set14 and BSD100 next to bicubic, the x4 PSNR model and the HR images themselves, plus a
picture of crops side by side.

Protocol as ``superres eval``: MATLAB-bicubic LR, HR mod-cropped to the scale, NIQE and PSNR
with a border of ``scale`` pixels cropped (the HR row is cropped the same way).

Usage: python benchmarks/gan_quality.py [--shared ../shared] [--models bicubic photo-gan-x4 ...]
A model ``NAME@S`` is NAME at ``--strength S`` (blended with the model it was tuned from);
those rows show the trade-off and stay out of the picture.
Writes benchmarks/GAN_QUALITY.md and benchmarks/gan_crops.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from report import crops_picture, markdown_table, write_report, written_by

from superres.evaluate import EvalOptions, evaluate_folder, iter_pairs
from superres.metrics import grid_strength, niqe
from superres.models import load_model

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set5", "Set14", "BSD100")
SCALE = 4
# (set, image stem, left, top) of square HR crops: fur, fabric, a face, natural textures
CROPS = (
    ("Set14", "baboon", 300, 40),
    ("Set14", "barbara", 380, 300),
    ("Set14", "comic", 60, 40),
    ("BSD100", "img_008_SRF_4_HR", 120, 120),
)


def hr_scores(folder: Path, params: Path) -> tuple[float, float]:
    """Mean NIQE and grid strength of the HR images themselves."""
    pairs = list(iter_pairs(folder, SCALE))
    niqes = [niqe(hr, params, crop_border=SCALE) for _, hr, _ in pairs]
    grids = [grid_strength(hr, SCALE) for _, hr, _ in pairs]
    return float(np.mean(niqes)), float(np.mean(grids))


def _load(name: str):
    """A model by name or file; ``NAME@S``: at strength S."""
    base, _, strength = name.rpartition("@") if "@" in name else (name, "", "")
    return load_model(base, scale=SCALE, precision="fp32", strength=float(strength) if strength else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["bicubic", "compact64-x4-mse", "photo-gan-x4@0.5", "photo-gan-x4@0.75", "photo-gan-x4"],
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    params = args.shared / "data/niqe/niqe_pris_params.npz"
    models = {name: _load(name) for name in args.models}
    started = time.perf_counter()
    rows = []
    for name, model in models.items():
        results = [
            evaluate_folder(
                model,
                args.shared / "data/test" / s,
                EvalOptions(("psnr", "niqe", "grid"), niqe_params=params),
            )
            for s in SETS
        ]
        rows.append(
            [name, *(f"{r.mean('niqe'):.3f} / {r.mean('psnr'):.2f} / {r.mean('grid'):.2f}" for r in results)]
        )
        print(rows[-1], file=sys.stderr)
    hr = [hr_scores(args.shared / "data/test" / s, params) for s in SETS]
    rows.append(["HR images", *(f"{n:.3f} / - / {g:.2f}" for n, g in hr)])
    pictured = {name: model for name, model in models.items() if "@" not in name}
    crops_picture(pictured, args.shared, args.out / "gan_crops.png", CROPS, SCALE)
    minutes = (time.perf_counter() - started) / 60
    lines = [
        "# x4 GAN model: NIQE / Y-PSNR",
        "",
        written_by("gan_quality.py", minutes) + " NIQE: lower is more natural (MATLAB-compatible,"
        " pristine model from ../shared/data/niqe); PSNR in dB on Y, border of 4 cropped; grid: strength"
        " of a pattern repeating every 4 pixels (`superres.metrics.grid_strength`; the pixel-shuffle"
        " checkerboard a GAN generator can learn; natural images score a few tenths).",
        "",
        *markdown_table(["model", *(f"{s} NIQE / PSNR / grid" for s in SETS)], rows),
        "",
        "Crops (HR pixels, zoomed 2x): `benchmarks/gan_crops.png`.",
        "",
    ]
    write_report(args.out / "GAN_QUALITY.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
