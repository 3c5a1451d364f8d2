"""Images per second of ``superres upscale --ray`` with 1 and 2 Ray workers (actors) on this
machine, on the same images with the same model in one run, beside the local command.

The images are centre crops of the first BSD100 images (../shared), written as PNGs to a
temporary folder. Every configuration upscales all of them into its own empty folder through
:func:`superres.cluster.ray.upscale_files` (what the command runs) on one local Ray instance
of all this machine's CPUs; the local command (``superres upscale``, torch's own threads) runs
first as the reference, and every Ray output must equal its output byte for byte.

Reported per configuration: the wall time of the whole job (for the local command its
process start and torch import, for Ray its actors' start and model load), the seconds to the
first output, images/s over the whole job, and the steady images/s once results flow (from the
outputs' mtimes: the outputs after each actor's first batch over the time they took); the load
average before and after (the machine may be shared: other work slows every row).

Usage: python benchmarks/ray_scale.py [--model rlfn-s-x2] [--count 48] [--size 128]
Writes benchmarks/RAY_SCALE.md (the command it ran is printed in it).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from report import markdown_table, write_report

ROOT = Path(__file__).resolve().parents[1]
BSD100 = ROOT.parent / "shared" / "data" / "test" / "BSD100"
CONFIGS = ((1, 1), (2, 1), (1, 2))  # (actors, CPUs = torch threads per actor)
BATCH = 4  # files per batch (the command's default)
EXPLANATION = (
    "How to read it (docs/ray.md, 'How it scales', says more): 'first output' is what each Ray",
    "actor pays once (a process that imports torch and superres and loads the model), so over a",
    "few dozen images the whole-job rate of Ray is below the local command's and over thousands the",
    "steady rate is what counts. On 2 cores, 2 actors of 1 thread each run two images at once;",
    "1 actor of 2 threads splits each image's convolutions between 2 threads, which small images",
    "keep less busy. The steady rate of 2 actors over 1 is the scaling on this machine; on a",
    "cluster, actors on other nodes add their cores the same way while the shared file system",
    "keeps up. Only paths and error lines pass through Ray's object store here: the workers",
    "read and write the files themselves. The load average says how busy the machine was with",
    "other work: on a shared machine every row is slower, and a process with more threads than",
    "the cores left to it slows most (torch's threads wait for each other).",
)


def make_inputs(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` centre crops of ``size`` x ``size`` from BSD100, as PNGs in ``folder``."""
    sources = sorted(BSD100.glob("*.png"))[:count]
    if len(sources) < count:
        sys.exit(f"need {count} BSD100 images in {BSD100}, found {len(sources)}")
    made = []
    for source in sources:
        image = Image.open(source).convert("RGB")
        left, top = (image.width - size) // 2, (image.height - size) // 2
        made.append(folder / source.name)
        image.crop((left, top, left + size, top + size)).save(made[-1])
    return made


def local_command(inputs: Path, out: Path, model: str, threads: int | None) -> tuple[float, float, float]:
    """The local ``superres upscale`` on the folder, a process of its own with ``threads``
    torch threads (None: torch's default, one per core): as :func:`ray_job`."""
    start = time.time()
    command = [sys.executable, "-m", "superres", "upscale", str(inputs), "-o", str(out), "-m", model, "-q"]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    subprocess.run(command, check=True, cwd=ROOT, env=env)
    return (time.time() - start, *_from_mtimes(out, start, 1))


def _from_mtimes(out: Path, start: float, first: int) -> tuple[float, float]:
    """Seconds from ``start`` to the first output in ``out``, and images/s after the
    ``first`` outputs (each output's mtime is when it was finished)."""
    done = sorted(path.stat().st_mtime for path in out.iterdir())
    first = min(first, len(done) - 1)
    return done[0] - start, (len(done) - first) / (done[-1] - done[first - 1])


def _row(run: str, threads: str, count: int, times: tuple[float, float, float]) -> list[str]:
    wall, first, steady = times
    return [run, threads, f"{wall:.1f}", f"{first:.1f}", f"{count / wall:.2f}", f"{steady:.2f}"]


def ray_job(inputs: Path, out: Path, model: str, actors: int, cpus: int) -> tuple[float, float, float]:
    """One job on the running Ray instance: its wall seconds, the seconds to its first output
    (actor start, model load, first batch) and its steady images/s, from the outputs' mtimes
    (each is written by its worker as it finishes)."""
    from superres.batch import OutputNaming, collect_inputs, plan_batch
    from superres.cluster.ray import upscale_files
    from superres.cluster.ray_rows import ModelSpec
    from superres.engine.options import UpscaleOptions

    scale = int(model.rsplit("-x", 1)[1])
    plan = plan_batch(collect_inputs([str(inputs)]), OutputNaming(str(out), f"_x{scale}"))
    start = time.time()
    resources = {"num_cpus": cpus, "batch_size": BATCH, "concurrency": actors}
    for source, error in upscale_files(
        plan.jobs, spec=ModelSpec(model), options=UpscaleOptions(), **resources
    ):
        if error:
            sys.exit(f"{source}: {error}")
    return (time.time() - start, *_from_mtimes(out, start, actors * BATCH))  # after each actor's first batch


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def cpu_name() -> str:
    found = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in found.splitlines() if "Model name" in line), "?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="rlfn-s-x2")
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RAY_SCALE.md")
    args = parser.parse_args()
    command = shlex.join(["python", "benchmarks/ray_scale.py", *sys.argv[1:]])
    import ray
    import ray.data

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        make_inputs(folder / "in", args.count, args.size)
        local = local_command(folder / "in", folder / "local", args.model, None)
        local_1 = local_command(folder / "in", folder / "local-1", args.model, 1)
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        rows = [
            _row("local command (no Ray)", f"{torch_threads()} (torch's default)", args.count, local),
            _row("local command (no Ray)", "1 (OMP_NUM_THREADS=1)", args.count, local_1),
        ]
        for actors, cpus in CONFIGS:
            out = folder / f"ray-{actors}x{cpus}"
            wall, first, steady = ray_job(folder / "in", out, args.model, actors, cpus)
            for result in (folder / "local").iterdir():
                if (out / result.name).read_bytes() != result.read_bytes():
                    sys.exit(f"{out / result.name} differs from the local command's result")
            rows.append(_row(f"{actors} actor(s)", str(cpus), args.count, (wall, first, steady)))
        ray.shutdown()
    load_after = os.getloadavg()
    header = [
        "run",
        "CPUs (torch threads) per actor",
        "wall s",
        "first output s",
        "images/s",
        "steady images/s",
    ]
    lines = [
        "# superres upscale --ray: 1 vs 2 workers",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.count}"
        f" BSD100 centre crops of {args.size}x{args.size}, model {args.model}, one local Ray instance of"
        f" {os.cpu_count()} CPUs ({cpu_name()}). Every Ray output equals the local command's byte for byte.",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)};"
        f" after: {', '.join(f'{v:.2f}' for v in load_after)}.",
        "",
        *markdown_table(header, rows),
        "",
        *EXPLANATION,
    ]
    write_report(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
