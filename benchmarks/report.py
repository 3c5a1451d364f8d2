"""Pieces the quality benchmarks share: the Markdown table and "Written by" line of a report,
and the picture of crops side by side. A module beside the scripts (run from the repository
root, ``python benchmarks/NAME.py`` puts this folder on ``sys.path``)."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from superres.api import upscale
from superres.engine.options import TileOptions
from superres.evaluate import LRDegradation, iter_pairs, super_resolve

CROP_SIDE, ZOOM = 96, 2
# The degraded LR that the models for real photos are scored and tuned on (real_photo.py,
# strength.py): the published protocol's LR, then Gaussian noise and/or JPEG.
REAL_PHOTO_DEGRADATIONS = (
    LRDegradation(),
    LRDegradation(jpeg_quality=90),
    LRDegradation(jpeg_quality=80),
    LRDegradation(jpeg_quality=70),
    LRDegradation(jpeg_quality=50),
    LRDegradation(noise_sigma=5, jpeg_quality=75),
    LRDegradation(noise_sigma=10),
)


def written_by(script: str, minutes: float) -> str:
    """The opening of a report's provenance line: the command, the date, the machine, the time."""
    return (
        f"Written by `python benchmarks/{script}` on {datetime.date.today()}"
        f" ({platform.machine()}, {minutes:.1f} min)."
    )


def write_report(path: Path, lines: list[str]) -> None:
    """Write a report's lines to ``path`` and show them."""
    path.write_text("\n".join(lines))
    print("\n".join(lines))


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a Markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def crop_tiles(
    models, pixels: np.ndarray, left: int, top: int, *, side: int, scale: int, margin: int
) -> list[np.ndarray]:
    """The ``side``-pixel square of ``pixels`` at (left, top) zoomed by nearest neighbour, then
    each model's output for it. The models see ``margin`` more pixels each side (where the
    image has them), so the crop's edges are upscaled as inner pixels, as in the whole image."""
    box = pixels[max(top - margin, 0) : top + side + margin, max(left - margin, 0) : left + side + margin]
    dy, dx = min(top, margin), min(left, margin)
    window = (slice(dy * scale, (dy + side) * scale), slice(dx * scale, (dx + side) * scale))
    tiles = [np.repeat(np.repeat(pixels[top : top + side, left : left + side], scale, 0), scale, 1)]
    return tiles + [upscale(box, model=model)[window] for model in models]


def crops_picture(
    models: dict,
    shared: Path,
    out: Path,
    crops: tuple[tuple[str, str, int, int], ...],
    scale: int,
    degradation: LRDegradation | None = None,
) -> None:
    """One row per (set, image stem, left, top) HR crop: the LR (nearest), then each model's
    output, then the HR image; each tile CROP_SIDE HR pixels, zoomed ZOOM x."""
    labels = ["LR (nearest)", *models, "HR"]
    tile = CROP_SIDE * ZOOM
    header = 18
    picture = Image.new("RGB", (tile * len(labels), header + tile * len(crops)), "white")
    draw = ImageDraw.Draw(picture)
    for column, label in enumerate(labels):
        draw.text((column * tile + 4, 3), label, fill="black")
    for row, (set_name, stem, left, top) in enumerate(crops):
        hr, lr = next(
            (h, low)
            for n, h, low in iter_pairs(shared / "data/test" / set_name, scale, degradation=degradation)
            if n == stem
        )
        box = (slice(top, top + CROP_SIDE), slice(left, left + CROP_SIDE))
        lr_up = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
        views = [lr_up[box]] + [super_resolve(m, lr, TileOptions(tile=0))[box] for m in models.values()]
        for column, view in enumerate([*views, hr[box]]):
            if view.shape[2] == 1:
                view = np.repeat(view, 3, axis=2)
            image = Image.fromarray(view).resize((tile, tile), Image.NEAREST)
            picture.paste(image, (column * tile, header + row * tile))
    picture.save(out, optimize=True)
