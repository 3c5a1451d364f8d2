"""The geospatial options of ``superres upscale`` on a Landsat-like scene: a 0 collar the
file does not flag (about a third of the pixels), and a uint16 band whose largest value is
54,253 with bright clouds. Prints the collar's share of the result with and without
``--nodata 0``, and the result's range with and without the clamp (``--no-clamp-range``).

Usage: nice python benchmarks/raster_polish.py [--model rlfn-s-x2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from superres.cli import main as superres_main


def scene(size: int = 240) -> np.ndarray:
    """uint16, a textured field 6,000..30,000, square clouds at 54,253, a tilted 0 collar."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size]
    pixels = 18000 + 9000 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 1500, (size, size))
    for top, left in ((60, 120), (150, 170), (100, 200)):
        pixels[top : top + 14, left : left + 18] = 54253
    pixels = np.clip(pixels, 6000, 54253)
    pixels[x < 0.55 * size - 0.3 * y] = 0  # the collar outside the scene's swath
    return pixels.astype(np.uint16)


def run(source: Path, out: Path, model: str, *options: str) -> np.ndarray:
    assert superres_main(["upscale", str(source), "-o", str(out), "-m", model, "-q", *options]) == 0
    return tifffile.imread(next(out.glob("*.tif")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="rlfn-s-x2")
    args = parser.parse_args()
    pixels = scene()
    keys = (1, 1, 0, 1, 1025, 0, 1, 1)  # a GeoTIFF: GeoKeys, 30 m pixels, no no-data tag
    tags = [(34735, "H", len(keys), keys, True), (33550, "d", 3, (30.0, 30.0, 0.0), True),
            (33922, "d", 6, (0, 0, 0, 500000.0, 4200000.0, 0), True)]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "scene.tif"
        tifffile.imwrite(source, pixels, extratags=tags)
        before = run(source, Path(folder) / "before", args.model, "--no-clamp-range")  # as before both
        unclamped = run(source, Path(folder) / "unclamped", args.model, "--nodata", "0", "--no-clamp-range")
        after = run(source, Path(folder) / "after", args.model, "--nodata", "0")
    size = f"{pixels.shape[1]}x{pixels.shape[0]}"
    print(f"model {args.model}; input {size} uint16 GeoTIFF, largest value {pixels.max()}, no no-data tag")
    shares = [f"{np.mean(image == 0):.1%}" for image in (pixels, before, after)]
    print(f"0 collar: {shares[0]} of the input; {shares[1]} of the result without --nodata, {shares[2]} with")
    valid = np.repeat(np.repeat(pixels > 0, 2, 0), 2, 1)
    images = (pixels[pixels > 0], unclamped[valid], after[valid])
    ranges = [f"{image.min()}..{image.max()}" for image in images]
    print(f"valid pixels: input {ranges[0]}; result (--nodata 0) {ranges[1]} with --no-clamp-range,", end=" ")
    print(ranges[2], "by default")


if __name__ == "__main__":
    main()
