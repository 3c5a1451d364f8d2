"""Which tile size is fastest on this CPU? Seconds to upscale a 480 x 320 input (a BSD100
photo's size), fp32 channels_last (the default path), overlap 16, for several networks and
maximum tile sizes ("whole" = no tiling).

Usage: python benchmarks/tiles.py [--size 480] [--repeats 2]
Weights are random (speed does not depend on them); network sizes are the standard ones.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from superres.archs import build_network
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel

NETWORKS = {
    "imdn x4": ("imdn", {"scale": 4}),
    "srvgg x4 (64x16)": ("srvgg", {"scale": 4}),
    "edsr-baseline x4": ("edsr", {"scale": 4}),
    "rrdbnet x4 (23 blocks)": ("rrdbnet", {"scale": 4}),
}
TILES = [64, 96, 128, 160, 192, 256, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    x = torch.rand(1, 3, args.size * 2 // 3, args.size)
    header = " | ".join("whole" if t == 0 else str(t) for t in TILES)
    shape = f"{args.size}x{args.size * 2 // 3}"
    print(f"input {shape}, torch {torch.__version__}, 2 threads; median seconds of {args.repeats}")
    print(f"| network | {header} |\n|---|" + "---|" * len(TILES))
    for label, (name, params) in NETWORKS.items():
        network = build_network(name, **params).eval().to(memory_format=torch.channels_last)
        model = SRModel(network, name, params, name, torch.device("cpu"), channels_last=True)
        row = []
        for tile in TILES:
            options = TileOptions(tile=tile, tile_overlap=16)
            upscale_tensor(model, x[:, :, :96, :96], options)  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                upscale_tensor(model, x, options)
                times.append(time.perf_counter() - start)
            row.append(statistics.median(times))
        best = min(row)
        cells = " | ".join(f"**{t:.2f}**" if t == best else f"{t:.2f}" for t in row)
        print(f"| {label} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
