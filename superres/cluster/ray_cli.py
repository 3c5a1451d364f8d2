"""``superres upscale --ray ADDRESS``: the command's planned jobs run on a Ray cluster.

The driver (the machine running the command) plans the batch exactly as without ``--ray``
(:mod:`superres.batch`: names, refusals, ``--skip-existing``), then each job runs on a Ray
worker through the same function as locally, which writes its output atomically; only paths
and error lines travel through Ray. Inputs and the output folder must therefore be on a file
system that every node sees at the same path, or be fsspec URLs
(:mod:`superres.cluster.ray_urls`). Importing this module does not import Ray.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from superres.cli.common import non_negative, one_line, positive, progress_shown

if TYPE_CHECKING:
    from collections.abc import Sequence

    from superres.batch import PlannedJob
    from superres.cluster.ray_urls import RemoteJob
    from superres.engine.options import UpscaleOptions


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """--ray and the resources of its workers."""
    group = parser.add_argument_group("Ray (pip install 'superres[ray]'; docs/ray.md)")
    group.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the batch on a Ray cluster: auto (the one `ray start` made), local (a Ray instance"
        " started for this run), ray://HOST:10001 or HOST:6379; inputs and outputs must be on a file"
        " system every node sees, or fsspec URLs (s3://, gs://, file://, ...); implies --skip-existing,"
        " so a rerun resumes",
    )
    group.add_argument(
        "--ray-workers",
        metavar="N",
        type=positive(int),
        help="Ray actors, each loading the model once (default: as many as the cluster's CPUs (GPUs) hold)",
    )
    group.add_argument(
        "--ray-cpus",
        metavar="N",
        type=positive(float),
        help="CPUs per actor (= torch threads; default 1)",
    )
    group.add_argument(
        "--ray-gpus",
        metavar="F",
        type=non_negative(float),
        help="GPUs per actor (default: 1 with --device cuda, else 0)",
    )
    group.add_argument(
        "--ray-batch-size",
        metavar="N",
        type=positive(int),
        help="files handed to an actor at a time (default 4)",
    )


def ray_problem(args: argparse.Namespace) -> str | None:
    """Why the Ray options or URLs cannot be used as given: ``--ray-*`` without ``--ray``
    (silently ignored otherwise), URLs without ``--ray`` or without ``-o URL``, a URL whose
    protocol's package is missing."""
    from superres.cluster.ray_urls import url_problem

    if not args.ray:
        given = [name for name in _RAY_OPTIONS if getattr(args, name) is not None]
        if given:
            return f"--{given[0].replace('_', '-')} is for --ray: add --ray ADDRESS, or leave it out"
    return url_problem(args.inputs, args.output, ray=bool(args.ray))


_RAY_OPTIONS = ("ray_workers", "ray_cpus", "ray_gpus", "ray_batch_size")


def run_on_ray(
    args: argparse.Namespace, jobs: Sequence[PlannedJob | RemoteJob], options: UpscaleOptions
) -> list[str]:
    """Run ``jobs`` on the cluster ``args.ray`` names; a failure line for each that failed,
    said as it comes, as the local batch does."""
    from tqdm import tqdm

    from superres.cluster.ray import connect, upscale_files
    from superres.cluster.ray_rows import ModelSpec

    connect(args.ray)
    _quiet_ray()
    gpus = args.ray_gpus if args.ray_gpus is not None else float(str(args.device).startswith("cuda"))
    spec = ModelSpec(str(args.model), args.scale, args.device, args.precision, args.strength)
    resources = {
        "num_cpus": args.ray_cpus or 1,
        "num_gpus": gpus,
        "batch_size": args.ray_batch_size or 4,
        "concurrency": args.ray_workers,
    }
    failed: dict[str, str] = {}
    done = upscale_files(jobs, spec=spec, options=options, **resources)
    for source, error in tqdm(
        done, total=len(jobs), desc="ray", unit="img", disable=not progress_shown(args.quiet)
    ):
        if error:
            failed[source] = error
            tqdm.write(f"error: {one_line(error)}", file=sys.stderr)
    return [failed[str(job.source)] for job in jobs if str(job.source) in failed]  # in the batch's order


def _quiet_ray() -> None:
    """Ray Data's progress bars and INFO lines off: the command draws its own bar and says
    each failure."""
    import logging

    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
