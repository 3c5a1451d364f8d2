"""``auto`` on real camera photos nobody here made, which have no ground truth: a picture of
crops, one row per photo: the photo's own pixels (nearest), bicubic, the x4 default and the
x4 model for real photos, the column ``auto`` picks framed; and a table of each photo's JPEG
quality, noise estimate and auto's pick.

The photos are read where they are (they are not the project's to copy). The ones in
docs/models.md ("Automatic choice"): the camera JPEGs in piexif 1.1.3's source (MIT; `pip
download --no-deps --no-binary :all: piexif==1.1.3` and unzip: tests/images/L01.jpg, L02.jpg,
02.jpg, large.jpg, a Casio QV-R51's) and two photos of a circuit board in the Rust
toolchain's documentation (MIT / Apache-2.0; share/doc/rust/html/embedded-book/assets/f3.jpg
and verify.jpeg).

Usage: python benchmarks/photo_crops.py PHOTO@LEFT,TOP [...] [--out benchmarks/auto_photos.png]
(LEFT, TOP: the crop's corner in the photo's pixels).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from report import crop_tiles, markdown_table

from superres.engine.auto import AutoModels
from superres.io import read_image
from superres.models import default_model_name, load_model, shipped_of_kind

ROOT = Path(__file__).resolve().parents[1]
SIDE, SCALE, MARGIN = 48, 4, 8  # the crop in photo pixels; the models see MARGIN more each side


def crop_row(models: dict, auto: AutoModels, path: Path, left: int, top: int) -> tuple[list, list[str]]:
    """The tiles of one photo's row (photo nearest, then each model's), and its table row."""
    pixels = read_image(path).page(0).pixels[:, :, :3]
    pixels = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    picked, kind = auto.for_pixels(pixels, source=path)
    tiles = crop_tiles(models.values(), pixels, left, top, side=SIDE, scale=SCALE, margin=MARGIN)
    quality = "-" if kind.jpeg_quality is None else str(kind.jpeg_quality)
    size = f"{pixels.shape[1]}x{pixels.shape[0]}"
    row = [f"`{path.name}`", size, quality, f"{kind.noise:.2f}", kind.describe(), f"`{picked.name}`"]
    return [tiles, list(models).index(picked.name) + 1], row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", help="PATH@LEFT,TOP")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/auto_photos.png")
    args = parser.parse_args()
    names = ["bicubic", default_model_name(SCALE), *sorted(shipped_of_kind("real", SCALE))]
    models = {name: load_model(name, scale=SCALE, precision="fp32") for name in names}
    auto = AutoModels(SCALE, models.__getitem__)
    rows, table = [], []
    for item in args.photos:
        path, corner = item.rsplit("@", 1)
        (tiles, chosen), row = crop_row(models, auto, Path(path), *map(int, corner.split(",")))
        rows.append((tiles, chosen, row))
        table.append(row)
    tile, header = SIDE * SCALE, 16
    picture = Image.new("RGB", (tile * (len(names) + 1), (tile + header) * len(rows) + header), "white")
    draw = ImageDraw.Draw(picture)
    for column, label in enumerate(["photo (nearest)", *names]):
        draw.text((column * tile + 4, 2), label, fill="black")
    for index, (tiles, chosen, row) in enumerate(rows):
        y = header + index * (tile + header)
        draw.text((4, y + 2), f"{row[0].strip('`')}: {row[4]} -> auto runs {row[5].strip('`')}", fill="black")
        for column, view in enumerate(tiles):
            picture.paste(Image.fromarray(view), (column * tile, y + header))
        x = chosen * tile
        draw.rectangle((x, y + header, x + tile - 1, y + header + tile - 1), outline=(255, 0, 0), width=3)
    picture.save(args.out, optimize=True)
    header_row = ["photo", "size", "JPEG quality", "noise estimate", "reads as", "auto runs"]
    print("\n".join(markdown_table(header_row, table)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
