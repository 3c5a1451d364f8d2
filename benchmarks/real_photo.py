"""The models for real photos against the clean-LR default of their scale and bicubic, on LR
images that carry what photos carry: JPEG artefacts and sensor noise.

Each row is one ``superres eval`` setting (``--lr-noise`` / ``--lr-jpeg``): the published
protocol's MATLAB-bicubic LR, then the degradation, seeded per image so every run sees the
same inputs. PSNR and SSIM on Y against the clean HR image, border of ``scale`` cropped.
Also, per scale, a picture of crops side by side, from JPEG-compressed LR.

Usage: python benchmarks/real_photo.py [--shared ../shared] [--scales 4 2]
Writes benchmarks/REAL_PHOTO.md and benchmarks/real_photo_crops.png (x4),
real_photo_crops_x2.png (x2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from report import REAL_PHOTO_DEGRADATIONS, crops_picture, markdown_table, write_report, written_by

from superres.evaluate import EvalOptions, LRDegradation, evaluate_folder
from superres.models import default_model_name, load_model, shipped_of_kind

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set14", "BSD100")
PICTURE_DEGRADATION = LRDegradation(jpeg_quality=75)
# (set, image stem, left, top) of square HR crops: a face, fabric, flat sky and foliage
CROPS = (
    ("Set14", "comic", 60, 40),
    ("Set14", "barbara", 380, 300),
    ("BSD100", "img_003_SRF_4_HR", 200, 100),
    ("BSD100", "img_008_SRF_4_HR", 120, 120),
)


def picture_name(scale: int) -> str:
    return "real_photo_crops.png" if scale == 4 else f"real_photo_crops_x{scale}.png"


def scale_section(scale: int, shared: Path, out: Path) -> list[str]:
    """The report's lines for one scale: bicubic, the default and each model for real photos."""
    names = ["bicubic", default_model_name(scale), *sorted(shipped_of_kind("real", scale))]
    models = {name: load_model(name, scale=scale, precision="fp32") for name in names}
    pictured = dict(models)
    for name in names[2:]:  # a model for real photos at its card's strength, and as trained
        if models[name].card.get("strength", 1) != 1:
            models[f"{name}@1"] = load_model(name, precision="fp32", strength=1.0)
    rows = []
    for set_name in SETS:
        for degradation in REAL_PHOTO_DEGRADATIONS:
            row = [set_name, degradation.describe(), f"`{degradation.eval_options() or '(none)'}`"]
            for model in models.values():
                options = EvalOptions(degradation=degradation)
                result = evaluate_folder(model, shared / "data/test" / set_name, options)
                row.append(f"{result.mean('psnr'):.2f} / {result.mean('ssim'):.4f}")
            rows.append(row)
            print(rows[-1], file=sys.stderr)
    crops_picture(pictured, shared, out / picture_name(scale), CROPS, scale, PICTURE_DEGRADATION)
    return [
        f"## x{scale}",
        "",
        *markdown_table(["set", "LR", "eval options", *models], rows),
        "",
        f"Crops from {PICTURE_DEGRADATION.describe()} (HR pixels, zoomed 2x):"
        f" `benchmarks/{picture_name(scale)}`.",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--scales", type=int, nargs="+", default=[4, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    started = time.perf_counter()
    sections = [scale_section(scale, args.shared, args.out) for scale in args.scales]
    minutes = (time.perf_counter() - started) / 60
    lines = [
        "# On degraded LR: PSNR / SSIM",
        "",
        written_by("real_photo.py", minutes) + " Each row: `superres eval -m MODEL -s SCALE --data"
        " ../shared/data/test/SET` with the options shown (MATLAB-bicubic LR, then Gaussian noise"
        " seeded per image and/or JPEG by Pillow); PSNR in dB and SSIM on Y against the clean HR"
        " image, border of SCALE pixels cropped. The columns: bicubic, the scale's default (clean"
        " LR) and its models for real photos, at the strength their cards name (`superres.models."
        "blended`, chosen on Set14 by `benchmarks/strength.py`) and as trained (`NAME@1`,"
        " `--strength 1`).",
        "",
        *(line for section in sections for line in section),
    ]
    write_report(args.out / "REAL_PHOTO.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
