"""The x4 model for real photos against the clean-LR default and bicubic, on LR images that
carry what photos carry: JPEG artefacts and sensor noise.

Each column is one ``superres eval`` setting (``--lr-noise`` / ``--lr-jpeg``): the
published protocol's MATLAB-bicubic LR, then the degradation, seeded per image so every run
sees the same inputs. PSNR and SSIM on Y against the clean HR image, border of 4 cropped.
Also a picture of crops side by side, from JPEG-compressed LR.

Usage: python benchmarks/real_photo.py [--shared ../shared] [--models bicubic compact64-x4-kd real-photo-x4]
Writes benchmarks/REAL_PHOTO.md and benchmarks/real_photo_crops.png.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

from gan_quality import crops_picture

from superres.evaluate import LRDegradation, evaluate_folder
from superres.models import load_model

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set14", "BSD100")
SCALE = 4
DEGRADATIONS = (
    LRDegradation(),
    LRDegradation(jpeg_quality=90),
    LRDegradation(jpeg_quality=80),
    LRDegradation(jpeg_quality=70),
    LRDegradation(jpeg_quality=50),
    LRDegradation(noise_sigma=5, jpeg_quality=75),
    LRDegradation(noise_sigma=10),
)
PICTURE_DEGRADATION = LRDegradation(jpeg_quality=75)
# (set, image stem, left, top) of square HR crops: a face, fabric, flat sky and foliage
CROPS = (
    ("Set14", "comic", 60, 40),
    ("Set14", "barbara", 380, 300),
    ("BSD100", "img_003_SRF_4_HR", 200, 100),
    ("BSD100", "img_008_SRF_4_HR", 120, 120),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--models", nargs="+", default=["bicubic", "compact64-x4-kd", "real-photo-x4"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    models = {name: load_model(name, scale=SCALE, precision="fp32") for name in args.models}
    started = time.perf_counter()
    rows = []
    for set_name in SETS:
        for degradation in DEGRADATIONS:
            row = [set_name, degradation.describe(), f"`{degradation.eval_options() or '(none)'}`"]
            for model in models.values():
                result = evaluate_folder(model, args.shared / "data/test" / set_name, degradation=degradation)
                row.append(f"{result.mean('psnr'):.2f} / {result.mean('ssim'):.4f}")
            rows.append(row)
            print(rows[-1], file=sys.stderr)
    crops_picture(models, args.shared, args.out / "real_photo_crops.png", CROPS, PICTURE_DEGRADATION)
    minutes = (time.perf_counter() - started) / 60
    lines = [
        "# x4 on degraded LR: PSNR / SSIM",
        "",
        f"Written by `python benchmarks/real_photo.py` on {datetime.date.today()}"
        f" ({platform.machine()}, {minutes:.1f} min). Each row: `superres eval -m MODEL -s 4 --data"
        " ../shared/data/test/SET` with the options shown (MATLAB-bicubic LR, then Gaussian noise"
        " seeded per image and/or JPEG by Pillow); PSNR in dB and SSIM on Y against the clean HR"
        " image, border of 4 cropped.",
        "",
        "| set | LR | eval options | " + " | ".join(models) + " |",
        "|---|---|---|" + "---|" * len(models),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        f"Crops from {PICTURE_DEGRADATION.describe()} (HR pixels, zoomed 2x):"
        " `benchmarks/real_photo_crops.png`.",
        "",
    ]
    (args.out / "REAL_PHOTO.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
