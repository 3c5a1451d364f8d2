"""Peak memory of upscaling one large image, each way in a fresh process: the result made in
row bands (the default, ``superres.engine.rows.ROW_BAND_BYTES``) or in one piece, and kept in memory
(``upscale_image``) or written to a TIFF or PNG file (``upscale_file``, which writes a result
past one band as it is made, so the result is never held whole).

The input is a synthetic RGB image (by default 4000 x 3000, a 12-megapixel photo) upscaled
x4 with the bicubic network, so the time goes to the output, not the network.

Usage: python benchmarks/memory.py [--size 8000x6000] [--outscale 2] [--modes "PNG file, row bands" ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

MODES = (
    "in memory, row bands",
    "in memory, one piece",
    "TIFF file, row bands",
    "TIFF file, one piece",
    "PNG file, row bands",
    "PNG file, one piece",
)

WORKER = """
import resource, sys
import numpy as np
import superres.api as api
import superres.engine.rows as rows
from superres.api import UpscaleOptions
from superres.io import ImageData, write_image
from superres.models import load_model
mode, folder, width, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
outscale = float(sys.argv[5]) if sys.argv[5] != "none" else None
if mode.endswith("one piece"):
    rows.ROW_BAND_BYTES = 1 << 62
model = load_model("bicubic", scale=4)
image = ImageData(np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8))
to_file = mode.split()[0] in ("TIFF", "PNG")
if to_file:
    write_image(folder + "/in.png", image)
    del image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if to_file:
    out = folder + ("/out.tif" if mode.startswith("TIFF") else "/out.png")
    api.upscale_file(model, folder + "/in.png", out, UpscaleOptions(outscale=outscale))
else:
    api.upscale_image(model, image, UpscaleOptions(outscale=outscale))
print(before // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4000x3000", help="input WIDTHxHEIGHT (default 4000x3000)")
    parser.add_argument("--outscale", type=float, help="final factor after the x4 network (default: none)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=MODES)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    factor = args.outscale or 4
    out_width, out_height = round(width * factor), round(height * factor)
    result = f"{out_width}x{out_height} ({out_width * out_height * 3 / 1e6:,.0f} MB at 8 bits)"
    how = "x4" if args.outscale is None else f"x4 then --outscale {args.outscale:g}"
    print(f"{width}x{height} RGB -> {result}, {how}, bicubic network")
    print("peak resident set (MB):")
    for mode in args.modes:
        with tempfile.TemporaryDirectory() as folder:
            command = [
                sys.executable,
                "-c",
                WORKER,
                mode,
                folder,
                str(width),
                str(height),
                str(args.outscale or "none"),
            ]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
        before, peak = out.stdout.split()
        print(f"  {mode:<21} peak {int(peak):>5}  (before upscaling {int(before)})")


if __name__ == "__main__":
    main()
