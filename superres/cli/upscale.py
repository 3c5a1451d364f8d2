"""``superres upscale``: image files, folders or globs, planned by :mod:`superres.batch`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from superres.cli.common import (
    compute_options,
    debugging,
    failure_line,
    load_model_or_report,
    model_options,
    one_line,
    positive,
    progress_shown,
    quality,
    quiet_option,
    report_error,
    tiling_options,
)
from superres.cli.video import add_video_options, check_kinds, run_video_job, video_options
from superres.cluster.ray_cli import add_ray_options, ray_problem, run_on_ray
from superres.engine.auto import AUTO
from superres.engine.input_kind import JPEG_QUALITY_THRESHOLD
from superres.engine.options import OUTPUT_LIMIT_FACTOR
from superres.errors import SuperresError

if TYPE_CHECKING:  # not at run time: `superres --help` must not import torch
    from superres.api import UpscaleOptions
    from superres.batch import BatchPlan, Inputs, PlannedJob
    from superres.engine.auto import AutoModels
    from superres.engine.tiles import TileCallback
    from superres.models import SRModel
    from superres.video.options import VideoOptions

READABLE = (
    "PNG, JPEG, WebP, AVIF, BMP, GIF, TIFF, JPEG 2000, HEIC, TGA, PPM/PGM, DICOM, NIfTI"
    " and video (MP4, MKV, MOV, WebM, AVI)"
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    shared = [
        model_options(
            model_help="auto (the default: per image, the scale's model for real photos for a JPEG"
            f" at quality {JPEG_QUALITY_THRESHOLD} or below or a noisy image, else the scale's"
            " default), a shipped model (see `superres models`; default: the PSNR default;"
            " photo-gan: the GAN), network name, or weights file",
            scale_help="upscaling factor of the model (default: the model's own)",
        ),
        tiling_options(
            tile_default=None,
            tile_help="tile size in input pixels (0 = whole image; default: from memory)",
            overlap_help="overlap between tiles in input pixels",
            tta_help="x8 self-ensemble: slower, slightly better",
        ),
        compute_options(
            device_help="cpu, cuda, cuda:N, mps or auto (default: cpu)",
            precision_default="auto",
            precision_help="compute precision (auto: bf16 for the shipped PSNR models on CPUs with"
            " native bf16, else fp32)",
        ),
        quiet_option(),
    ]
    up = commands.add_parser(
        "upscale", parents=shared, help="upscale images", description="Upscale image files, folders or globs."
    )
    up.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    up.add_argument(
        "-o", "--output", help="output folder, or output file for a single input (default: beside each input)"
    )
    up.add_argument(
        "--outscale", type=positive(float), help="final factor: model scale, then a bicubic resize to this"
    )
    up.add_argument("--suffix", help="added to output names (default: _x<scale>)")
    up.add_argument("--ext", help="output format by extension, e.g. png (default: as the input)")
    up.add_argument(
        "--quality", type=quality, default=95, help="JPEG / WebP / AVIF / HEIC quality, 1-100 (default 95)"
    )
    up.add_argument(
        "--alpha-upsampler",
        choices=["network", "bicubic"],
        default="network",
        help="how alpha is upscaled: by the network (default) or bicubic (smooth edges, faster)",
    )
    up.add_argument(
        "--keep-dpi",
        action="store_true",
        help="keep the input's DPI, so the print is larger (default: the DPI grows with the pixels,"
        " the same print size); a microscope's calibration is always rescaled",
    )
    _add_raster_options(up)
    _add_batch_options(up)
    add_ray_options(up)
    add_video_options(up)
    up.set_defaults(func=run, model=AUTO)


def _add_raster_options(up: argparse.ArgumentParser) -> None:
    """No-data and value range of rasters (GeoTIFF, multi-band measurements)."""
    up.add_argument(
        "--nodata",
        type=float,
        metavar="VALUE",
        help="samples of this value are no-data (fill the file does not flag, such as a 0 collar):"
        " kept exactly, never blended into valid pixels, and flagged in a TIFF result",
    )
    up.add_argument(
        "--no-clamp-range",
        dest="clamp_range",
        action="store_false",
        help="do not clamp a raster's result (GeoTIFF, or over 4 bands) to each band's input range",
    )


def _add_batch_options(up: argparse.ArgumentParser) -> None:
    """Which files a batch reads and may replace, and the size limits it keeps."""
    from superres.io import DEFAULT_MAX_PIXELS

    up.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    up.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave out inputs whose output exists (resume a batch; outputs are written whole or not at all)",
    )
    up.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing output files superres did not write (default: such a file fails its input)",
    )
    up.add_argument(
        "--max-pixels", type=positive(int), default=DEFAULT_MAX_PIXELS, help="refuse larger inputs"
    )
    up.add_argument(
        "--max-output-pixels",
        type=positive(int),
        help="refuse inputs whose result would have more pixels, before any work"
        f" (default: {OUTPUT_LIMIT_FACTOR}x --max-pixels, which admits a x4 of any input under it)",
    )


def run(args: argparse.Namespace) -> int:
    from superres import batch
    from superres.cluster import ray_urls

    problem = ray_problem(args)  # --ray-* without --ray; URLs without --ray or -o URL, ...
    if problem:
        report_error(problem)
        return 2
    planner = ray_urls if ray_urls.is_url(args.output) else batch  # URLs: all of them are
    inputs = planner.collect_inputs(args.inputs, recursive=args.recursive)
    _report_inputs(inputs, args.quiet)
    if not inputs.jobs:
        if inputs.not_files:  # named on the command line, each failed (and was reported)
            return 1
        report_error("no input images")
        return 2
    max_output = args.max_output_pixels or OUTPUT_LIMIT_FACTOR * args.max_pixels
    problem = _output_problem(args, max_output)
    if problem:
        report_error(problem)
        return 2
    auto = _auto_models(args) if args.model == AUTO else None
    model = None if args.model == AUTO else load_model_or_report(args)
    if model is None and auto is None:
        return 2
    scale = auto.scale if auto else model.scale
    shown_scale = args.outscale if args.outscale is not None else scale
    suffix = args.suffix if args.suffix is not None else f"_x{shown_scale:g}"
    naming = batch.OutputNaming(args.output, suffix, args.ext)
    skip = args.skip_existing or bool(args.ray)  # a job on a cluster resumes when run again
    plan = planner.plan_batch(inputs, naming, skip_existing=skip, overwrite=args.overwrite)
    if not _report_plan(plan, args.quiet):
        return 2
    if planner is batch:  # local files
        _before_local_jobs(plan, model, quiet=args.quiet or auto is not None)
    else:
        ray_urls.remove_stale_temp_files(plan.jobs)
    failures = [f"{item}: no such file, folder or matching glob" for item in inputs.missing]
    failures += inputs.not_files + plan.clashes
    count = len(plan.jobs) + len(failures)
    limits = OutputLimit(args.outscale or scale, args.max_pixels, max_output)
    chooser = ModelChooser(model, auto, args.max_pixels, args.quiet)
    options, video = _options(args), video_options(args)
    if args.ray:
        failures += run_on_ray(args, plan.jobs, options)
    else:
        debug = debugging(args)
        failures += _run_jobs(chooser, plan, options, limits, video=video, quiet=args.quiet, debug=debug)
    if failures:
        print(f"{len(failures)} of {count} inputs failed:", file=sys.stderr)
        for line in failures:
            print(f"  {one_line(line)}", file=sys.stderr)
        return 1
    if not args.quiet:
        ran = f": {auto.summary()}" if auto and len(plan.jobs) > 1 and not args.ray else ""
        print(f"wrote {len(plan.jobs)} image(s){ran}", file=sys.stderr)
    return 0


def _output_problem(args: argparse.Namespace, max_output: int) -> str | None:
    """Why ``-o`` or ``--outscale`` cannot be used as given."""
    if _names_a_file_that_is_not_an_image(args.output):
        return (
            f"{args.output}: -o names a file that is not an image; give a folder, or an"
            " image file name (.png, .jpg, .tif, ...) for one input"
        )
    if args.outscale is not None and args.outscale > max_output**0.5:
        return (
            f"--outscale {args.outscale:g}: even a one-pixel image's result would be over"
            f" --max-output-pixels ({max_output:,})"
        )
    return None


def _before_local_jobs(plan: BatchPlan, model: SRModel, *, quiet: bool) -> None:
    """The JPEG note (unless ``quiet``), and stale temporary files removed from the output folders."""
    from superres.atomic import remove_stale_temp_files

    note = None if quiet else jpeg_note(model, [job.source for job in plan.jobs])
    if note:
        print(note, file=sys.stderr)
    for folder in {job.target.parent for job in plan.jobs}:
        remove_stale_temp_files(folder)


def _auto_models(args: argparse.Namespace) -> AutoModels | None:
    """The models ``auto`` picks from, none loaded yet; None after printing why when
    --device or --precision cannot be used (checked by loading bicubic, which has no weights,
    so the batch does not fail file by file). --strength goes to the model for real photos;
    the default has none to set."""
    try:
        return auto_models(args)
    except Exception as exc:  # the boundary: one line, exit 2
        report_error(failure_line(exc, AUTO, debug=debugging(args)))
        return None


def auto_models(settings: argparse.Namespace) -> AutoModels:
    """:func:`_auto_models` for ``settings`` with ``scale``, ``device``, ``precision`` and
    ``strength`` (the command line's, or a Ray worker's); raises when they cannot be used."""
    from superres.engine.auto import AutoModels
    from superres.models import default_model_name, load_model

    scale = settings.scale or 4
    load_model("bicubic", scale=scale, device=settings.device, precision=settings.precision)

    def load(name: str) -> SRModel:
        strength = None if name == default_model_name(scale) else settings.strength
        return load_model(
            name, scale=scale, device=settings.device, precision=settings.precision, strength=strength
        )

    return AutoModels(scale, load)


@dataclass(frozen=True)
class ModelChooser:
    """The model for each input: the one named, or ``auto``'s pick (said on stderr)."""

    model: SRModel | None
    auto: AutoModels | None
    max_pixels: int
    quiet: bool

    @property
    def label(self) -> str:
        return f"{self.model.name} x{self.model.scale}" if self.model else f"auto x{self.auto.scale}"

    def __call__(self, source: Path) -> SRModel:
        if self.model is not None:
            return self.model
        model, kind = self.auto.for_file(source, max_pixels=self.max_pixels)
        if not self.quiet:
            from tqdm import tqdm

            unmatched = (
                "" if kind.degraded == (model.card.get("kind") == "real") else " (none for real photos ships)"
            )
            tqdm.write(f"{one_line(source)}: {kind.describe()} -> {model.name}{unmatched}", file=sys.stderr)
        return model


def _names_a_file_that_is_not_an_image(output: str | None) -> bool:
    from superres.io import FORMATS
    from superres.io.formats import format_suffix
    from superres.video.options import is_video

    named = bool(output) and Path(output).is_file()
    return named and format_suffix(output) not in FORMATS and not is_video(output)


def _options(args: argparse.Namespace) -> UpscaleOptions:
    from superres.api import TileOptions, UpscaleOptions

    return UpscaleOptions(
        tiling=TileOptions(tile=args.tile, tile_overlap=args.tile_overlap, tta=args.tta),
        outscale=args.outscale,
        alpha_upsampler=args.alpha_upsampler,
        keep_dpi=args.keep_dpi,
        quality=args.quality,
        max_pixels=args.max_pixels,
        max_output_pixels=args.max_output_pixels,
        nodata=args.nodata,
        clamp_range=args.clamp_range,
    )


def _report_inputs(inputs: Inputs, quiet: bool) -> None:
    for item in inputs.missing:
        report_error(f"{item}: no such file, folder or matching glob")
    for line in inputs.not_files:
        report_error(line)
    if inputs.other and not quiet:
        kinds = ", ".join(sorted({p.suffix.lower() or "no extension" for p in inputs.other}))
        print(
            f"note: left out {len(inputs.other)} file(s) of a type superres does not read ({kinds});"
            f" it reads {READABLE}",
            file=sys.stderr,
        )


def _report_plan(plan: BatchPlan, quiet: bool) -> bool:
    """Print what the plan left out; False if the batch cannot run (after printing why)."""
    if plan.earlier and not quiet:
        earlier = plan.earlier
        names = ", ".join(str(path) for path in earlier[:3]) + (", ..." if len(earlier) > 3 else "")
        print(f"note: left out {len(earlier)} earlier result(s) of these inputs ({names})", file=sys.stderr)
    if plan.problem is not None:
        report_error(plan.problem)
        return False
    for line in plan.clashes:
        report_error(line)
    if plan.skipped and not quiet:
        print(
            f"note: skipped {len(plan.skipped)} input(s) whose output exists (--skip-existing)",
            file=sys.stderr,
        )
    return True


@dataclass(frozen=True)
class OutputLimit:
    factor: float  # output size / input size
    max_pixels: int  # of an input (read_image refuses larger ones itself)
    max_output_pixels: int

    def check(self, source: Path) -> None:
        """Refuse (SuperresError) an input whose result would be over ``max_output_pixels``,
        from its header; an input whose header Pillow cannot read is left to read_image."""
        import warnings

        from superres.io.limits import open_with_pillow

        try:  # the decoder's warnings come once, naming the file, when read_image reads it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with open_with_pillow(source) as image:
                    width, height = image.size
        except Exception:  # not for Pillow, or broken: read_image says what it is
            return
        if width * height > self.max_pixels:
            return
        pixels = (width * self.factor) * (height * self.factor)
        if pixels > self.max_output_pixels:
            raise SuperresError(
                f"the result would be {width * self.factor:.0f}x{height * self.factor:.0f} ="
                f" {pixels:,.0f} pixels, over --max-output-pixels ({self.max_output_pixels:,})",
                source,
            )


def _run_jobs(
    choose: ModelChooser,
    plan: BatchPlan,
    options: UpscaleOptions,
    limit: OutputLimit,
    *,
    video: VideoOptions,
    quiet: bool,
    debug: bool,
) -> list[str]:
    """Run the planned jobs; a failure line for each that failed (the batch goes on)."""
    from tqdm import tqdm

    failures: list[str] = []
    hidden = not progress_shown(quiet)
    for job in tqdm(plan.jobs, desc=choose.label, unit="img", disable=hidden):
        tiles = tqdm(total=0, desc=one_line(job.source.name), unit="tile", leave=False, disable=hidden)

        def on_tile(done: int, total: int, bar=tiles) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            upscale_job(choose, job, options, limit, on_tile=on_tile, video=video, quiet=quiet)
        except Exception as exc:  # the boundary: this file failed, the batch goes on
            failures.append(failure_line(exc, job.source, debug=debug))
            tqdm.write(f"error: {failures[-1]}", file=sys.stderr)
        finally:
            tiles.close()
    return failures


def upscale_job(
    choose: ModelChooser,
    job: PlannedJob,
    options: UpscaleOptions,
    limit: OutputLimit,
    *,
    on_tile: TileCallback | None = None,
    video: VideoOptions | None = None,
    quiet: bool = True,
) -> None:
    """Run one planned job, here or on a Ray worker; raises why it failed. A video's frames
    go through the same model with ``video``'s options (None, as on Ray: videos are refused)."""
    from superres import api

    refusal = job.refusal()
    if refusal is not None:
        raise refusal
    if check_kinds(job):  # a video: its frames through the same model
        if video is None:
            raise SuperresError("videos are not run on Ray: upscale it without --ray", job.source)
        job.target.parent.mkdir(parents=True, exist_ok=True)
        hidden = not progress_shown(quiet)
        run_video_job(job, choose.model or choose.auto, options, video, hidden=hidden, quiet=quiet)
        return
    limit.check(job.source)
    model = choose(job.source)
    job.target.parent.mkdir(parents=True, exist_ok=True)
    # The plan refused targets superres did not write (unless --overwrite): job.refusal().
    api.upscale_file(model, job.source, job.target, options, on_tile=on_tile, overwrite=True)


def jpeg_note(model: SRModel, sources: list[Path]) -> str | None:
    """A note for JPEG inputs compressed hard enough that the shipped model for real photos
    restores them better than the clean-LR model named with -m (which ``auto`` would have
    picked for them: docs/models.md, Real photos)."""
    if model.card.get("kind") != "psnr":
        return None
    from superres.io import jpeg_quality
    from superres.models import shipped_of_kind

    real = sorted(shipped_of_kind("real", model.scale))
    if not real:
        return None
    low = {}
    for path in sources:
        found = jpeg_quality(path) if path.suffix.lower() in (".jpg", ".jpeg") else None
        if found is not None and found <= JPEG_QUALITY_THRESHOLD:
            low[path] = found
    if not low:
        return None
    first, found = next(iter(low.items()))
    return (
        f"note: {len(low)} input(s) are JPEGs saved at quality {JPEG_QUALITY_THRESHOLD} or below"
        f" ({first.name}: about {found}); {model.name} sharpens their compression artefacts with the"
        f" detail; auto (no -m) or -m {real[0]} removes them"
    )
