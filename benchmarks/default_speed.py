"""How fast is the default `superres upscale` path per scale, in fp32 and bf16, next to the
other shipped PSNR models? Issue 27's speed target is a ratio to RLFN-S (now the default
of every scale), so every row is timed against it in the same run, interleaved (each round
runs every model once), median of the rounds, after a warm-up.

The path: `superres.api.upscale_float` (automatic tiles, channels_last on CPU) on a 320x240
crop of a BSD100 image; `auto` precision is what `superres upscale` runs (bf16 only for
bf16-verified models on CPUs with native bf16).

Usage: python benchmarks/default_speed.py [--shared ../shared] [--rounds 5] [--threads 2]
Writes benchmarks/DEFAULT_SPEED.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from report import markdown_table, write_report, written_by

from superres.api import upscale_float
from superres.io import read_image
from superres.models import cpu_has_native_bf16, default_model_name, load_model

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    2: ("rlfn-s-x2", "compact64-x2-kd", "compact-x2-kd"),
    3: ("rlfn-s-x3", "compact64-x3-kd", "compact-x3-kd"),
    4: ("rlfn-s-x4", "compact64-x4-kd", "compact-x4-kd"),
}
PRECISIONS = ("auto", "fp32", "bf16")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def time_scale(scale: int, pixels: np.ndarray, rounds: int) -> list[list[str]]:
    """Rows for one scale: model, precision run, MP/s, ratio to the default in fp32."""
    models = {(name, p): load_model(name, precision=p) for name in MODELS[scale] for p in PRECISIONS}
    times: dict[tuple[str, str], list[float]] = {key: [] for key in models}
    for model in models.values():
        upscale_float(model, pixels)  # warm-up
    for _ in range(rounds):
        for key, model in models.items():
            start = time.perf_counter()
            upscale_float(model, pixels)
            times[key].append(time.perf_counter() - start)
    megapixels = pixels.shape[0] * pixels.shape[1] * scale * scale / 1e6
    base = statistics.median(times[(default_model_name(scale), "fp32")])
    rows = []
    for (name, precision), model in models.items():
        median = statistics.median(times[(name, precision)])
        label = f"{precision} ({model.precision})" if precision == "auto" else precision
        rows.append([f"x{scale}", name, label, f"{megapixels / median:.2f}", f"{base / median:.2f}x"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = read_image(args.shared / "data/test/BSD100/img_004_SRF_4_HR.png").page(0).pixels[:240, :320]
    began = time.perf_counter()
    rows = [row for scale in sorted(MODELS) for row in time_scale(scale, image, args.rounds)]
    lines = [
        "# Speed of the default upscale path",
        "",
        written_by("default_speed.py", (time.perf_counter() - began) / 60),
        f"CPU: {cpu_name()}, {args.threads} threads, native bf16: {cpu_has_native_bf16()};"
        f" torch {torch.__version__}. Input: a 320x240 crop of BSD100 img_004; median of"
        f" {args.rounds} interleaved rounds. Ratio: to the scale's default in fp32.",
        "",
        *markdown_table(["scale", "model", "precision", "MP/s", "vs default fp32"], rows),
    ]
    write_report(ROOT / "benchmarks/DEFAULT_SPEED.md", lines)


if __name__ == "__main__":
    main()
