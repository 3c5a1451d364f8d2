"""How glibc's malloc settings that Dask gives its workers change torch's CPU inference speed:
one warm x2 upscale of a 512 x 512 image with rlfn-s-x2 (one thread), each setting in a fresh
process, median of 3 runs each. docs/dask.md, "Worker memory allocator", quotes the result.

Usage: python benchmarks/malloc_env.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

SETTINGS = {
    "none (glibc's defaults)": {},
    "MALLOC_TRIM_THRESHOLD_=65536 (Dask's worker default)": {"MALLOC_TRIM_THRESHOLD_": "65536"},
    "... and MALLOC_MMAP_THRESHOLD_=33554432": {
        "MALLOC_TRIM_THRESHOLD_": "65536",
        "MALLOC_MMAP_THRESHOLD_": "33554432",
    },
}
TIMING = """
import time, numpy as np, torch, superres
torch.set_num_threads(1)
model = superres.load_model("rlfn-s-x2")
image = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
superres.upscale(image, model=model)
start = time.perf_counter(); superres.upscale(image, model=model); print(time.perf_counter() - start)
"""


def main() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    print(f"CPU threads 1; load average {os.getloadavg()[0]:.1f}")
    for name, extra in SETTINGS.items():
        runs = [
            float(subprocess.run([sys.executable, "-c", TIMING], env={**clean, **extra}, check=True,
                                 capture_output=True, text=True).stdout.split()[-1])
            for _ in range(3)
        ]  # fmt: skip
        print(f"{name}: {statistics.median(runs):.2f} s")


if __name__ == "__main__":
    main()
