"""``superres eval``: score a model with the published benchmark protocol."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from superres.cli.common import (
    compute_options,
    load_model_or_report,
    model_options,
    non_negative,
    progress_shown,
    quality,
    quiet_option,
    report_error,
    tiling_options,
)
from superres.errors import SuperresError


def add_parser(commands: argparse._SubParsersAction) -> None:
    shared = [
        model_options(
            model_help="shipped model, network name, or weights file path",
            scale_help="scale (needed for bicubic and default models)",
        ),
        tiling_options(
            tile_default=0,
            tile_help="tile size (default 0: whole images)",
            overlap_help=None,
            tta_help="x8 self-ensemble (the '+' rows of EDSR-style tables): 8x the time, higher PSNR",
        ),
        compute_options(
            device_help=None,
            precision_default="fp32",
            precision_help="compute precision (default fp32, so scores are the same on every machine;"
            " auto as upscale)",
        ),
        quiet_option(),
    ]
    ev = commands.add_parser(
        "eval",
        parents=shared,
        help="score a model with the published benchmark protocol",
        description="PSNR/SSIM on Y (crop = scale) with MATLAB-bicubic LR, as in the published SR tables.",
    )
    ev.add_argument(
        "--data", nargs="+", required=True, metavar="DIR", help="HR image folders (or with HR/ and LR/)"
    )
    ev.add_argument(
        "--metrics",
        default="psnr,ssim",
        help="comma-separated: psnr, ssim, niqe, grid (a pattern repeating every scale pixels)",
    )
    ev.add_argument("--rgb", action="store_true", help="PSNR/SSIM on RGB instead of the Y channel")
    ev.add_argument(
        "--gray-as-rgb",
        action="store_true",
        help="replicate grayscale images to RGB first, as IMDN's published tables did (Set14: +0.09 dB)",
    )
    ev.add_argument(
        "--lr-noise",
        type=non_negative(float),
        default=0.0,
        metavar="SIGMA",
        help="add Gaussian noise of this sigma (0..255 units) to each LR image, seeded by its name",
    )
    ev.add_argument(
        "--lr-jpeg",
        type=quality,
        metavar="QUALITY",
        help="JPEG-compress each LR image at this quality (1-100), after any --lr-noise",
    )
    ev.add_argument(
        "--niqe-params", help="niqe_pris_params.npz (default: $SUPERRES_NIQE_PARAMS or ../shared)"
    )
    ev.add_argument("--save-images", metavar="DIR", help="also write the upscaled images here")
    ev.add_argument("--per-image", action="store_true", help="a row per image as well as the means")
    ev.add_argument("--format", default="table", choices=["table", "csv", "json"])
    ev.set_defaults(func=run)


def default_niqe_params() -> Path | None:
    """The pristine NIQE model: $SUPERRES_NIQE_PARAMS, else ../shared/data/niqe/ if present."""
    candidates = [os.environ.get("SUPERRES_NIQE_PARAMS"), "../shared/data/niqe/niqe_pris_params.npz"]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def _usage_problem(
    args: argparse.Namespace, metrics: tuple[str, ...], niqe_params: Path | None
) -> str | None:
    """Why these options cannot run (None if they can)."""
    from superres.evaluate import METRICS

    if not metrics:
        return f"--metrics names no metric; choose from {', '.join(METRICS)}"
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        return f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}"
    if "niqe" in metrics and (niqe_params is None or not niqe_params.is_file()):
        return "NIQE needs the pristine-model file niqe_pris_params.npz: pass --niqe-params PATH"
    names = [Path(folder).resolve().name for folder in args.data]
    if args.save_images and len(set(names)) < len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        return (
            f"--save-images writes each set to DIR/<folder name>; two --data folders are"
            f" named {', '.join(twice)}, so one's images would overwrite the other's"
        )
    return None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from superres.engine.options import TileOptions
    from superres.evaluate import EvalOptions, LRDegradation, evaluate_folder, format_results

    metrics = tuple(m.strip().lower() for m in args.metrics.split(",") if m.strip())
    niqe_params = Path(args.niqe_params) if args.niqe_params else default_niqe_params()
    problem = _usage_problem(args, metrics, niqe_params)
    if problem:
        report_error(problem)
        return 2
    model = load_model_or_report(args)
    if model is None:
        return 2
    degradation = LRDegradation(args.lr_noise, args.lr_jpeg)
    options = EvalOptions(
        metrics=metrics,
        tiling=TileOptions(tile=args.tile, tile_overlap=args.tile_overlap, tta=args.tta),
        y_channel=not args.rgb,
        niqe_params=niqe_params,
        save_dir=Path(args.save_images) if args.save_images else None,
        gray_as_rgb=args.gray_as_rgb,
        degradation=degradation,
    )
    results = []
    for folder in args.data:
        hidden = not progress_shown(args.quiet)
        bar = tqdm(desc=f"{Path(folder).name} x{model.scale}", unit="img", disable=hidden)
        try:
            results.append(evaluate_folder(model, folder, options, on_image=lambda _n, b=bar: b.update()))
        except SuperresError as exc:
            report_error(exc)
            return 1
        finally:
            bar.close()
    table = format_results(
        model,
        results,
        metrics=metrics,
        style=args.format,
        per_image=args.per_image,
        tta=args.tta,
        degradation=degradation,
    )
    print(table)
    return 0
