"""Training speed of every recipe: iterations/s, samples/s, and the share of step time spent
waiting for the data loader, measured after warm-up iterations with the recipe's own batch,
patch size and DataLoader workers.

Usage: python benchmarks/train_speed.py [--device cpu|cuda] [--iterations 3] [--threads 2]
Writes benchmarks/TRAINING_SPEED.md. GAN recipes run from random generators (speed does not
depend on the weights) and, without VGG19 weights here, with a random VGG for perceptual loss.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from superres.train.recipe import load_recipe
from superres.train.trainer import hardware_description, train

ROOT = Path(__file__).resolve().parents[1]


def measure(path: Path, device: str, iterations: int, threads: int) -> dict:
    """Train ``path`` for 2 x ``iterations``; the log record of the second half."""
    torch.set_num_threads(threads)
    recipe = load_recipe(path)
    with tempfile.TemporaryDirectory() as tmp:
        n = iterations
        overrides = [f"output={tmp}", "val.sets=[]", "network.pretrained=''"]
        overrides += [
            f"train.iterations={2 * n}",
            f"train.log_interval={n}",
            f"train.checkpoint_interval={10 * n}",
        ]
        if recipe.train.perceptual and not recipe.train.perceptual.weights_path:
            overrides.append("train.perceptual.weights_path=random")
        train(load_recipe(path, overrides), device=device, progress=False)
        return json.loads((Path(tmp) / recipe.name / "log.jsonl").read_text().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--iterations", type=int, default=3, help="timed iterations (after as many warm-up ones)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/TRAINING_SPEED.md")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.device, args.iterations, args.threads)))
        return
    rows = []
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        if path.stem == "tiny-test":
            continue
        recipe = load_recipe(path)
        # Each recipe in its own process: one that runs out of memory is reported, not fatal.
        command = [sys.executable, __file__, "--worker", str(path), "--device", args.device,
                   "--iterations", str(args.iterations), "--threads", str(args.threads)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            last = json.loads(result.stdout.strip().splitlines()[-1])
            speed = f"{last['it_per_s']:.3f} it/s, {last['samples_per_s']:.2f} samples/s"
            summary = f"{speed}, loader {last['data_share']:.0%}"
        else:
            reason = (
                "killed (out of memory)" if result.returncode in (-9, 137) else f"exit {result.returncode}"
            )
            last, summary = None, f"failed: {reason}"
        rows.append(
            (
                path.stem,
                recipe.data.batch_size,
                recipe.data.patch_size * recipe.data.scale,
                recipe.data.workers,
                last,
                summary,
            )
        )
        print(f"{path.stem:<22} {summary}", flush=True)
    n = args.iterations
    torch.set_num_threads(args.threads)
    device = hardware_description(torch.device(args.device))
    lines = [
        "# Training speed",
        "",
        f"- date: {datetime.date.today().isoformat()}; device: {device}",
        f"- Python {platform.python_version()}, torch {torch.__version__}",
        f"- command: `python benchmarks/train_speed.py --device {args.device} --iterations {n}`",
        f"- each row: mean over {n} iterations after {n} warm-up iterations",
        "",
        "| recipe | batch | HR patch | loader workers | iterations/s | samples/s | loader share of step |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, batch, patch, workers, last, summary in rows:
        speed = (
            f"{last['it_per_s']:.3f} | {last['samples_per_s']:.2f} | {last['data_share']:.1%}"
            if last
            else f"{summary} | | "
        )
        lines.append(f"| {name} | {batch} | {patch} | {workers} | {speed} |")
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
