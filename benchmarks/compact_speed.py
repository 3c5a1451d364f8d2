"""How fast are plain (folded) compact networks next to IMDN on this CPU? Candidates for the
shipped models: SRVGGNetCompact-shaped networks, which ECBSR folds into. Each is timed
through the default upscale path (fp32 channels_last, automatic tiles) on a 480x320 input,
median of repeats after a warm-up; weights are random (speed does not depend on them).

Usage: python benchmarks/compact_speed.py [--repeats 3]   (writes benchmarks/COMPACT_SPEED.md)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from superres.archs import build_network, count_parameters
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [(64, 16), (64, 8), (48, 12), (48, 8), (32, 16), (32, 12), (32, 8)]  # (features, convs)


def seconds(network: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    network = network.eval().to(memory_format=torch.channels_last)
    model = SRModel(network, "x", {}, "x", torch.device("cpu"), channels_last=True)
    upscale_tensor(model, x[:, :, :64, :64], TileOptions())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        upscale_tensor(model, x, TileOptions())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    x = torch.rand(1, 3, 320, 480)
    setup = f"torch {torch.__version__}, 2 threads, 480x320 input, median of {args.repeats}"
    lines = ["# Compact networks vs IMDN (inference speed, this CPU)", "",
             f"{setup}; `python benchmarks/compact_speed.py`", "",
             "| network | params (x4) | x2 s | x3 s | x4 s | speed vs IMDN (x2 / x3 / x4) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    imdn = {s: seconds(build_network("imdn", scale=s), x, args.repeats) for s in (2, 3, 4)}
    rows = [("IMDN", count_parameters(build_network("imdn", scale=4)), imdn)]
    for feat, convs in CANDIDATES:
        times = {s: seconds(build_network("srvgg", scale=s, num_feat=feat, num_conv=convs), x, args.repeats)
                 for s in (2, 3, 4)}  # fmt: skip
        rows.append((f"plain {feat}x{convs} (SRVGG / folded ECBSR)", count_parameters(
            build_network("srvgg", scale=4, num_feat=feat, num_conv=convs)), times))  # fmt: skip
    for name, params, times in rows:
        ratios = " / ".join(f"{imdn[s] / times[s]:.2f}x" for s in (2, 3, 4))
        cells = " | ".join(f"{times[s]:.2f}" for s in (2, 3, 4))
        lines.append(f"| {name} | {params:,} | {cells} | {ratios} |")
        print(lines[-1], flush=True)
    (ROOT / "benchmarks/COMPACT_SPEED.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
