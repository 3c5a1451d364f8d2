"""The README's picture: what `superres upscale` gives at x4, next to bicubic, the GAN and
Real-ESRGAN x4plus, on test images (with their HR) and on real camera photos (none).

Each row is one crop, CROP x CROP output pixels: the input (nearest),
bicubic, the model `superres upscale` picks with no options (``auto``; named in the row's
title), `photo-gan-x4`, Real-ESRGAN x4plus, and the HR crop where there is one. Test-set rows
use the published protocol's LR (MATLAB bicubic of the HR); a photo row upscales the
photo's own pixels, as the command does. Real-ESRGAN x4plus loads as the named model when
`superres fetch` put it on this machine, else from its copy in ../shared.

The photos are read where they are (not the project's to copy); docs/models.md ("Automatic
choice") says where they come from. The README's picture:

    P=piexif-1.1.3/tests/images   # pip download --no-deps --no-binary :all: piexif==1.1.3; unzip
    python benchmarks/readme_crops.py --photos $P/L01.jpg@150,230 $P/large.jpg@190,110

Usage: python benchmarks/readme_crops.py [--photos PHOTO@LEFT,TOP ...] [--out PATH]
(LEFT, TOP: the crop's corner in the photo's pixels; --shared DIR: ../shared elsewhere).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from gan_quality import load_with_copy
from PIL import Image, ImageDraw
from report import crop_tiles

from superres.engine.auto import AutoModels
from superres.evaluate import iter_pairs
from superres.io import read_image
from superres.models import load_model

ROOT = Path(__file__).resolve().parents[1]
SCALE = 4
# (set, image stem, left, top) of HR crops: fur and a face with fine texture
TEST_CROPS = (("Set14", "baboon", 280, 20), ("BSD100", "img_008_SRF_4_HR", 100, 100))
GAN, BEST_LOOK = "photo-gan-x4", "realesrgan-x4plus"
CROP = 192  # output pixels a side, shown as they are
SIDE = CROP // SCALE  # the crop in input pixels
MARGIN = 8  # input pixels the models see beyond the crop on each side, so its edges are inner pixels


def crop_views(models: list, auto: AutoModels, pixels: np.ndarray, left: int, top: int, source: Path | None):
    """The input (nearest) and each model's output for the SIDE-pixel square of ``pixels`` at
    (left, top), the model ``auto`` picks for the whole image shown after the first model."""
    picked, _ = auto.for_pixels(pixels, source=source)
    shown = [models[0], picked, *models[1:]]
    views = crop_tiles(shown, pixels, left, top, side=SIDE, scale=SCALE, margin=MARGIN)
    return views, picked.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="*", default=[], help="PHOTO@LEFT,TOP")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/crops.png")
    args = parser.parse_args()
    start = time.perf_counter()
    models = [load_with_copy(name, args.shared)[0] for name in ("bicubic", GAN, BEST_LOOK)]
    auto = AutoModels(SCALE, lambda name: load_model(name, scale=SCALE, precision="fp32"))
    rows = []  # (title, views); a row without ground truth has no HR view
    for set_name, stem, left, top in TEST_CROPS:
        pairs = iter_pairs(args.shared / "data/test" / set_name, SCALE)
        hr, lr = next((h, low) for n, h, low in pairs if n == stem)
        lr = np.repeat(lr, 3, axis=2) if lr.shape[2] == 1 else lr
        views, picked = crop_views(models, auto, lr, left // SCALE, top // SCALE, None)
        hr_view = hr[top : top + CROP, left : left + CROP]
        rows.append((f"{set_name} {stem} (LR made from the HR): auto runs {picked}", [*views, hr_view]))
    for item in args.photos:
        path, _, corner = item.rpartition("@")
        pixels = read_image(path).page(0).pixels
        pixels = np.repeat(pixels[:, :, :1], 3, axis=2) if pixels.shape[2] < 3 else pixels[:, :, :3]
        views, picked = crop_views(models, auto, pixels, *map(int, corner.split(",")), Path(path))
        rows.append((f"{Path(path).name} (a camera photo, no ground truth): auto runs {picked}", views))
    labels = ["input (nearest)", "bicubic", "superres upscale (auto)", GAN, BEST_LOOK, "HR"]
    tile, header = CROP, 16
    picture = Image.new("RGB", (tile * len(labels), header + (tile + header) * len(rows)), "white")
    draw = ImageDraw.Draw(picture)
    for column, label in enumerate(labels):
        draw.text((column * tile + 4, 2), label, fill="black")
    for index, (title, views) in enumerate(rows):
        y = header + index * (tile + header)
        draw.text((4, y + 2), title, fill="black")
        for column, view in enumerate(views):
            picture.paste(Image.fromarray(np.ascontiguousarray(view)), (column * tile, y + header))
        if len(views) < len(labels):
            draw.text((len(views) * tile + 4, y + header + 4), "(no ground truth)", fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, optimize=True)
    print(f"wrote {args.out} ({len(rows)} rows, {(time.perf_counter() - start) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
