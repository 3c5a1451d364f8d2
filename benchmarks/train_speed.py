"""Training speed of every recipe: iterations/s, samples/s, and the share of step time spent
waiting for the data loader, measured after warm-up iterations with the recipe's own batch,
patch size and DataLoader workers.

Usage: python benchmarks/train_speed.py [--device cpu|cuda] [--iterations 3] [--threads 2]
Writes benchmarks/TRAINING_SPEED.md. With ``--precision-study RECIPE ...`` it instead times
those recipes in fp32 and with bf16 autocast + channels_last (train.precision /
train.channels_last) and writes benchmarks/TRAINING_PRECISION.md (``--output`` names another
file for either). GAN recipes run from random
generators (speed does not depend on the weights) and, without VGG19 weights here, with a
random VGG for perceptual loss. Distillation recipes (``data.teacher``) take bicubic as the
teacher: a step only reads the teacher's cached outputs, so its time does not depend on
which network made them, and the teacher's own pass over the images is not timed.
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

from superres.models import cpu_has_native_bf16
from superres.train.model_file import hardware_description
from superres.train.recipe import load_recipe
from superres.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]


def measure(path: Path, device: str, iterations: int, threads: int, extra: list[str]) -> dict:
    """Train ``path`` for 2 x ``iterations``; the log record of the second half."""
    torch.set_num_threads(threads)
    recipe = load_recipe(path)
    with tempfile.TemporaryDirectory() as tmp:
        n = iterations
        # Random weights (speed does not depend on them), so no start to grow or adapt either.
        overrides = [f"output={tmp}", "val.sets=[]", "network.pretrained=''"]
        overrides += ["network.pretrained_partial=false", "network.pretrained_deepen=false"]
        overrides += [
            f"train.iterations={2 * n}",
            f"train.log_interval={n}",
            f"train.checkpoint_interval={10 * n}",
        ]
        if recipe.train.perceptual and not recipe.train.perceptual.weights_path:
            overrides.append("train.perceptual.weights_path=random")
        if recipe.train.gan:  # time full generator + discriminator steps
            overrides.append("train.gan.discriminator_warmup=0")
        if recipe.data.teacher:  # the same targets in each batch, without minutes of a network's outputs
            overrides += ["data.teacher=bicubic", "data.teacher_tta=false"]
        overrides += extra
        train(load_recipe(path, overrides), device=device, progress=False)
        return json.loads((Path(tmp) / recipe.name / "log.jsonl").read_text().splitlines()[-1])


def run_worker(path: Path, args: argparse.Namespace, extra: list[str]) -> tuple[dict | None, str]:
    """Time ``path`` in its own process (one that runs out of memory is reported, not fatal)."""
    command = [sys.executable, __file__, "--worker", str(path), "--device", args.device,
               "--iterations", str(args.iterations), "--threads", str(args.threads),
               "--set", *extra]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        last = json.loads(result.stdout.strip().splitlines()[-1])
        speed = f"{last['it_per_s']:.3f} it/s, {last['samples_per_s']:.2f} samples/s"
        return last, f"{speed}, loader {last['data_share']:.0%}"
    reason = "killed (out of memory)" if result.returncode in (-9, 137) else f"exit {result.returncode}"
    return None, f"failed: {reason}"


def report_header(title: str, options: str, args: argparse.Namespace) -> list[str]:
    torch.set_num_threads(args.threads)
    device = hardware_description(torch.device(args.device))
    if args.device == "cpu":
        device += f"; native bf16 (AVX-512 BF16 or AMX): {'yes' if cpu_has_native_bf16() else 'no'}"
    if args.output:
        options += f" --output {args.output}"
    return [
        f"# {title}",
        "",
        f"- date: {datetime.date.today().isoformat()}; device: {device}",
        f"- Python {platform.python_version()}, torch {torch.__version__}",
        f"- command: `python benchmarks/train_speed.py {options}`",
    ]


def precision_study(args: argparse.Namespace) -> None:
    modes = {
        "fp32": ["train.precision=fp32", "train.channels_last=false"],
        "bf16 + channels_last": ["train.precision=bf16", "train.channels_last=true"],
    }
    n = args.iterations
    lines = [
        *report_header(
            "Training speed: fp32 against bf16 autocast + channels_last",
            f"--precision-study {' '.join(args.precision_study)} --iterations {n} --threads {args.threads}",
            args,
        ),
        f"- each cell: iterations/s over {n} iterations after {n} warm-up iterations",
        "",
        "| recipe | fp32 it/s | bf16 + channels_last it/s | speed-up |",
        "|---|---|---|---|",
    ]
    for name in args.precision_study:
        speeds = {}
        for mode, extra in modes.items():
            last, summary = run_worker(ROOT / "recipes" / f"{name}.yaml", args, extra)
            speeds[mode] = last["it_per_s"] if last else float("nan")
            print(f"{name:<22} {mode:<22} {summary}", flush=True)
        fp32, fast = speeds.values()
        lines.append(f"| {name} | {fp32:.3f} | {fast:.3f} | {fast / fp32:.2f}x |")
    out = args.output or ROOT / "benchmarks/TRAINING_PRECISION.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--iterations", type=int, default=3, help="timed iterations (after as many warm-up ones)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--output", type=Path, help="default: benchmarks/TRAINING_SPEED.md, or TRAINING_PRECISION.md"
    )
    parser.add_argument("--precision-study", nargs="+", metavar="RECIPE", help="recipe names")
    parser.add_argument(
        "--recipes", nargs="+", metavar="RECIPE", help="time only these and replace their rows in the table"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--set", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.device, args.iterations, args.threads, args.set)))
        return
    if args.precision_study:
        precision_study(args)
        return
    rows = []
    paths = sorted((ROOT / "recipes").glob("*.yaml"))
    if args.recipes:
        paths = [ROOT / "recipes" / f"{name}.yaml" for name in args.recipes]
    for path in paths:
        if path.stem == "tiny-test":
            continue
        recipe = load_recipe(path)
        last, summary = run_worker(path, args, [])
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
    out = args.output or ROOT / "benchmarks/TRAINING_SPEED.md"
    if args.recipes:
        update_rows(out, rows, f"--device {args.device} --iterations {n} --recipes {' '.join(args.recipes)}")
        return
    lines = [
        *report_header("Training speed", f"--device {args.device} --iterations {n}", args),
        f"- each row: mean over {n} iterations after {n} warm-up iterations",
        "",
        "| recipe | batch | HR patch | loader workers | iterations/s | samples/s | loader share of step |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [table_row(*row) for row in rows]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


def table_row(name: str, batch: int, patch: int, workers: int, last: dict | None, summary: str) -> str:
    speed = (
        f"{last['it_per_s']:.3f} | {last['samples_per_s']:.2f} | {last['data_share']:.1%}"
        if last
        else f"{summary} | | "
    )
    return f"| {name} | {batch} | {patch} | {workers} | {speed} |"


def update_rows(out: Path, rows: list, options: str) -> None:
    """Replace the rows of ``rows``' recipes in an existing table; the header names the rerun."""
    lines = out.read_text().splitlines()
    for row in rows:
        new = table_row(*row)
        lines = [new if line.startswith(f"| {row[0]} |") else line for line in lines]
        if new not in lines:
            lines.append(new)
    table = next(i for i, line in enumerate(lines) if line.startswith("| recipe |"))
    note = f"- rows rerun {datetime.date.today().isoformat()}: `python benchmarks/train_speed.py {options}`"
    lines.insert(table - 1, note)
    out.write_text("\n".join(lines) + "\n")
    print(f"updated {out}")


if __name__ == "__main__":
    main()
