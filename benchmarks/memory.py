"""Peak memory of upscaling one large image, with the output made in row bands (the default,
``superres.api.ROW_BAND_BYTES``) and in one piece, each in a fresh process.

The input is a synthetic 4000 x 3000 RGB image (a 12-megapixel photo) upscaled x4 with the
bicubic network (so the time goes to the output, not the network) into a 16000 x 12000 result.

Usage: python benchmarks/memory.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys

WORKER = """
import resource, sys
import numpy as np
import superres.api as api
from superres.io import ImageData
from superres.models import load_model
if sys.argv[1] == "one piece":
    api.ROW_BAND_BYTES = 1 << 62
model = load_model("bicubic", scale=4)
image = ImageData((np.random.default_rng(0).random((3000, 4000, 3)) * 255).astype(np.uint8))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = api.upscale_image(model, image)
print(before // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, result.pixels.shape)
"""


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print("4000x3000 RGB -> 16000x12000 (x4, bicubic network), peak resident set (MB)")
    for mode in ("row bands", "one piece"):
        out = subprocess.run([sys.executable, "-c", WORKER, mode], capture_output=True, text=True, check=True)
        before, peak, _ = out.stdout.split(maxsplit=2)
        print(f"  {mode:<10} peak {int(peak):>5}  (before upscaling {int(before)})")


if __name__ == "__main__":
    main()
