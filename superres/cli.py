"""The ``superres`` command line.

Exit status: 0 all good; 1 some images failed (listed at the end); 2 bad usage or model.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from superres.errors import SuperresError

if TYPE_CHECKING:  # not at run time: `superres --help` must not import torch
    from superres.models import SRModel


@dataclass(frozen=True)
class Job:
    source: Path
    relative: Path  # where the output goes, relative to the output folder
    found: bool = False  # by a folder or glob, not named on the command line


def collect_inputs(inputs: list[str], recursive: bool) -> tuple[list[Job], list[str], list[Path]]:
    """Expand files, folders and globs into jobs; also return inputs that matched nothing and
    the files folders held that are not of a type superres reads (hidden files aside)."""
    from superres.io import IMAGE_SUFFIXES

    jobs: list[Job] = []
    missing: list[str] = []
    other: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = (p for p in path.glob(pattern) if p.is_file())
            # hidden files and folders left out, as the shell's globs do (e.g. macOS ._NAME.jpg)
            files = sorted(p for p in found if not any(n.startswith(".") for n in p.relative_to(path).parts))
            readable = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
            jobs += [Job(p, p.relative_to(path), found=True) for p in readable]
            other += [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        elif path.exists():
            jobs.append(Job(path, Path(path.name)))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=recursive) if Path(p).is_file())
            if not matches:
                missing.append(item)
            jobs += [Job(p, Path(p.name), found=True) for p in matches]
        else:
            missing.append(item)
    unique = {job.source.resolve(): job for job in reversed(jobs)}  # a file named twice: one job
    return [job for job in jobs if unique[job.source.resolve()] is job], missing, other


def output_path(job: Job, output: str | None, single_file: bool, suffix: str, ext: str | None) -> Path:
    """Where a job's result goes: ``-o FILE`` for one input, else ``OUT/<rel stem><suffix>.<ext>``
    (beside the input when no ``-o`` is given)."""
    from superres.io import FORMATS

    if output and single_file and Path(output).suffix.lower() in FORMATS and not Path(output).is_dir():
        return Path(output)
    folder = Path(output) if output else job.source.parent
    extension = f".{ext.lstrip('.')}" if ext else job.source.suffix
    if extension.lower() not in FORMATS:
        extension = ".png"
    relative = job.relative if output else Path(job.source.name)
    stem, ome = relative.stem, relative.stem.lower().endswith(".ome")  # NAME.ome.tif: OME-TIFF
    if ome:  # NAME_x4.ome.tif, which OME readers recognise; NAME_x4.png for another format
        stem = stem[:-4]
    ome_part = ".ome" if ome and extension.lower() in (".tif", ".tiff") else ""
    return folder / relative.parent / f"{stem}{suffix}{ome_part}{extension}"


def _leave_out_earlier_results(
    jobs: list[Job], args: argparse.Namespace, suffix: str, single_file: bool
) -> tuple[list[Job], list[Job]]:
    """Jobs minus the files a folder or glob found that are this run's own outputs for other
    inputs (results of an earlier run in place: rerunning must not upscale them again), and
    those left out. A file named on the command line always stays an input."""
    targets = {output_path(job, args.output, single_file, suffix, args.ext).resolve() for job in jobs}
    earlier = [job for job in jobs if job.found and job.source.resolve() in targets]
    return [job for job in jobs if job not in earlier], earlier


def _claim_outputs(
    jobs: list[Job], args: argparse.Namespace, suffix: str, single_file: bool
) -> tuple[list[Job], list[str]]:
    """Jobs whose output no earlier job writes, and a failure line for each of the others
    (``photo.jpg`` and ``photo.png`` both give ``photo_x4.png`` with ``--ext png``): the
    first input keeps the name, and no result overwrites another."""
    owners: dict[Path, Path] = {}
    kept, failures = [], []
    for job in jobs:
        target = output_path(job, args.output, single_file, suffix, args.ext)
        owner = owners.setdefault(target.resolve(), job.source)
        if owner is job.source:
            kept.append(job)
        else:
            failures.append(
                f"{job.source}: its output {target} is {owner}'s output too; nothing was written for it"
                " (use --suffix, --ext or another -o folder)"
            )
    return kept, failures


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def _load_model_or_report(args: argparse.Namespace):
    """The model that -m/-s/--device/--precision name, or None after printing why not."""
    from superres.models import load_model

    try:
        return load_model(
            args.model, scale=args.scale, device=args.device, precision=args.precision, strength=args.strength
        )
    except SuperresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def cmd_upscale(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from superres.api import UpscaleOptions, upscale_file
    from superres.engine.options import TileOptions
    from superres.io import FORMATS

    jobs, missing, other = collect_inputs(args.inputs, args.recursive)
    for item in missing:
        print(f"error: {item}: no such file, folder or matching glob", file=sys.stderr)
    if other and not args.quiet:
        kinds = ", ".join(sorted({p.suffix.lower() or "no extension" for p in other}))
        print(
            f"note: left out {len(other)} file(s) of a type superres does not read ({kinds});"
            " it reads PNG, JPEG, WebP, AVIF, BMP, GIF, TIFF, JPEG 2000, HEIC, TGA and PPM/PGM",
            file=sys.stderr,
        )
    if not jobs:
        print("error: no input images", file=sys.stderr)
        return 2
    if args.output and Path(args.output).is_file() and Path(args.output).suffix.lower() not in FORMATS:
        print(
            f"error: {args.output}: -o names a file that is not an image; give a folder, or an"
            " image file name (.png, .jpg, .tif, ...) for one input",
            file=sys.stderr,
        )
        return 2
    model = _load_model_or_report(args)
    if model is None:
        return 2
    options = UpscaleOptions(
        tiling=TileOptions(tile=args.tile, tile_overlap=args.tile_overlap, tta=args.tta),
        outscale=args.outscale,
        alpha_upsampler=args.alpha_upsampler,
        keep_dpi=args.keep_dpi,
        quality=args.quality,
        max_pixels=args.max_pixels,
    )
    shown_scale = args.outscale if args.outscale is not None else model.scale
    suffix = args.suffix if args.suffix is not None else f"_x{shown_scale:g}"
    jobs, earlier = _leave_out_earlier_results(jobs, args, suffix, single_file=len(jobs) == 1 and not missing)
    if earlier and not args.quiet:
        names = ", ".join(str(job.source) for job in earlier[:3]) + (", ..." if len(earlier) > 3 else "")
        print(f"note: left out {len(earlier)} earlier result(s) of these inputs ({names})", file=sys.stderr)
    single_file = len(jobs) == 1 and not missing
    named = Path(args.output) if args.output else None
    if named and not single_file and named.suffix.lower() in FORMATS and not named.is_dir():
        inputs = len(jobs) + len(missing)
        message = f"-o names one image, but there are {inputs} inputs: give a folder"
        print(f"error: {named}: {message}", file=sys.stderr)
        return 2
    jobs, clashes = _claim_outputs(jobs, args, suffix, single_file)
    for line in clashes:
        print(f"error: {line}", file=sys.stderr)
    if args.skip_existing:
        done = [job for job in jobs if output_path(job, args.output, single_file, suffix, args.ext).exists()]
        jobs = [job for job in jobs if job not in done]
        if done and not args.quiet:
            print(
                f"note: skipped {len(done)} input(s) whose output exists (--skip-existing)", file=sys.stderr
            )
    note = None if args.quiet else _jpeg_note(model, [job.source for job in jobs])
    if note:
        print(note, file=sys.stderr)
    sources = {job.source.resolve() for job in jobs}
    failures: list[str] = [f"{item}: no such file, folder or matching glob" for item in missing] + clashes
    inputs = len(jobs) + len(failures)
    images = tqdm(jobs, desc=f"{model.name} x{model.scale}", unit="img", disable=args.quiet)
    for job in images:
        target = output_path(job, args.output, single_file, suffix, args.ext)
        tiles = tqdm(total=0, desc=job.source.name, unit="tile", leave=False, disable=args.quiet)

        def on_tile(done: int, total: int, bar=tiles) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            if target.resolve() in sources:
                raise SuperresError(
                    f"output {target} would overwrite an input image; use --suffix or -o", job.source
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            upscale_file(model, job.source, target, options, on_tile=on_tile)
        except SuperresError as exc:
            failures.append(str(exc))
            tqdm.write(f"error: {exc}", file=sys.stderr)
        except (OSError, RuntimeError, MemoryError, ValueError) as exc:  # e.g. an encoder's refusal
            failures.append(f"{job.source}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            tqdm.write(f"error: {failures[-1]}", file=sys.stderr)
        finally:
            tiles.close()
    if failures:
        print(f"{len(failures)} of {inputs} inputs failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"wrote {len(jobs)} image(s)", file=sys.stderr)
    return 0


JPEG_NOTE_QUALITY = 90  # at or below it the models for real photos score higher (benchmarks/REAL_PHOTO.md)


def _jpeg_note(model: SRModel, sources: list[Path]) -> str | None:
    """A note for JPEG inputs compressed hard enough that the shipped model for real photos
    restores them better than the clean-LR model in use (README, Shipped models)."""
    if model.card.get("kind") != "psnr":
        return None
    from superres.io import jpeg_quality
    from superres.models import shipped_of_kind

    real = sorted(shipped_of_kind("real", model.scale))
    if not real:
        return None
    low = {}
    for path in sources:
        quality = jpeg_quality(path) if path.suffix.lower() in (".jpg", ".jpeg") else None
        if quality is not None and quality <= JPEG_NOTE_QUALITY:
            low[path] = quality
    if not low:
        return None
    first, quality = next(iter(low.items()))
    return (
        f"note: {len(low)} input(s) are JPEGs saved at quality {JPEG_NOTE_QUALITY} or below ({first.name}:"
        f" about {quality}); {model.name} sharpens their compression artefacts with the detail,"
        f" -m {real[0]} removes them"
    )


def _default_niqe_params() -> Path | None:
    """The pristine NIQE model: $SUPERRES_NIQE_PARAMS, else ../shared/data/niqe/ if present."""
    import os

    candidates = [os.environ.get("SUPERRES_NIQE_PARAMS"), "../shared/data/niqe/niqe_pris_params.npz"]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from superres.engine.options import TileOptions
    from superres.evaluate import METRICS, LRDegradation, evaluate_folder, format_results

    metrics = tuple(m.strip().lower() for m in args.metrics.split(",") if m.strip())
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        print(
            f"error: unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}",
            file=sys.stderr,
        )
        return 2
    niqe_params = Path(args.niqe_params) if args.niqe_params else _default_niqe_params()
    if "niqe" in metrics and (niqe_params is None or not niqe_params.is_file()):
        print(
            "error: NIQE needs the pristine-model file niqe_pris_params.npz: pass --niqe-params PATH",
            file=sys.stderr,
        )
        return 2
    names = [Path(folder).resolve().name for folder in args.data]
    if args.save_images and len(set(names)) < len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        print(
            f"error: --save-images writes each set to DIR/<folder name>; two --data folders are"
            f" named {', '.join(twice)}, so one's images would overwrite the other's",
            file=sys.stderr,
        )
        return 2
    model = _load_model_or_report(args)
    if model is None:
        return 2
    options = TileOptions(tile=args.tile, tile_overlap=args.tile_overlap, tta=args.tta)
    degradation = LRDegradation(args.lr_noise, args.lr_jpeg)
    save_dir = Path(args.save_images) if args.save_images else None
    results = []
    for folder in args.data:
        bar = tqdm(desc=f"{Path(folder).name} x{model.scale}", unit="img", disable=args.quiet)
        try:
            results.append(
                evaluate_folder(
                    model,
                    Path(folder),
                    metrics,
                    options,
                    not args.rgb,
                    niqe_params,
                    save_dir,
                    lambda _n, b=bar: b.update(),
                    args.gray_as_rgb,
                    degradation,
                )
            )
        except SuperresError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            bar.close()
    print(format_results(model, results, metrics, args.format, args.per_image, args.tta, degradation))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from superres.train.recipe import load_recipe
    from superres.train.trainer import train

    try:
        recipe = load_recipe(args.recipe, args.set)
        path, card = train(recipe, args.resume, args.device, not args.quiet, args.stop_after)
    except SuperresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if path is None:
        print(f"stopped at iteration {card['stopped_at']}; continue with --resume")
        return 0
    metrics = ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in card["metrics"].items())
    print(f"wrote {path}" + (f" ({metrics})" if metrics else ""))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from superres.export import export_onnx

    if Path(args.output).suffix.lower() != ".onnx":
        print(f"error: {args.output}: the output must be an .onnx file", file=sys.stderr)
        return 2
    model = _load_model_or_report(args)
    if model is None:
        return 2
    try:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # as upscale makes its folders
        with _quiet_onnx_exporter():
            result = export_onnx(model, args.output, args.opset, check=not args.no_check)
    except SuperresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if model.arch == "bicubic" else 1
    except OSError as exc:  # a folder that cannot be made or written
        print(f"error: {args.output}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 1
    if args.no_check:
        checked = "not checked (--no-check)"
    elif result.max_difference is None:
        checked = "not checked: install onnxruntime to run the file against PyTorch"
    else:
        checked = f"ONNX Runtime matches PyTorch to {result.max_difference:.1g}"
    print(f"wrote {result.path} ({model.name}, x{model.scale}; {checked})")
    return 0


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """torch.onnx.export's notes (no torchvision, deprecations, graph dumps on failure) are not
    the user's business: its warnings, logging and prints are held back. This changes
    process-wide state (sys.stdout, the torch logger), which a command may do and a library
    function may not, so it lives here and not in superres.export."""
    import io
    import logging

    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        logger.setLevel(level)


def cmd_models(args: argparse.Namespace) -> int:
    from superres.archs import ARCHS, arch_module, build_network, count_parameters
    from superres.models import default_model_name, shipped_weights
    from superres.weights import read_metadata

    shipped = {name: read_metadata(path) for name, path in shipped_weights().items()}
    print(f"{'network':<10} {'scales':<16} {'in/out':<7} {'params (x4)':>11}  shipped weights  description")
    for name, entry in ARCHS.items():
        cls = getattr(arch_module(name), entry.class_name)
        network = build_network(name, scale=4)
        weights = [n for n, meta in shipped.items() if meta.get("arch") == name]
        weights_text = "(none needed)" if name == "bicubic" else ", ".join(weights) or "-"
        scales = ",".join(str(s) for s in cls.supported_scales)
        channels = f"{network.in_channels}/{network.out_channels}"
        print(
            f"{name:<10} {scales:<16} {channels:<7} {count_parameters(network):>11,}  {weights_text:<15}  "
            f"{entry.summary}"
        )
    print()
    print(_shipped_table(shipped))
    print()
    print("default model: " + ", ".join(f"x{s}: {default_model_name(s)}" for s in (2, 3, 4)))
    print("weights files work too (-m PATH): RRDBNet/ESRGAN, SRVGGNetCompact, EDSR, IMDN and superres files")
    return 0


def _card_score(scores: dict, set_name: str, metric: str, digits: int) -> str:
    value = scores.get(set_name, {}).get(metric)
    return "-" if value is None else f"{value:.{digits}f}"


def _shipped_table(shipped: dict[str, dict]) -> str:
    """Shipped models (name -> file metadata) with the test-set scores from their cards."""
    sets = ("Set5", "Set14", "BSD100")
    width = max([len("shipped model"), *map(len, shipped)])
    lines = [
        f"{'shipped model':<{width}} {'kind':<5} {'scale':<5} {'network':<8} {'params':>8}  "
        + "  ".join(f"{s + ' PSNR':>11}" for s in sets)
        + f"  {'BSD100 NIQE':>11}  trained"
    ]
    for name, meta in shipped.items():
        card = meta.get("card", {})
        scores = card.get("eval", {}).get("sets") or card.get("metrics", {})
        training = card.get("training", {})
        trained = f"{training.get('wall_time_s', 0) / 60:.0f} min, {training.get('hardware', '?')}"
        lines.append(
            f"{name:<{width}} {card.get('kind', '?'):<5} x{card.get('scale', '?'):<4} "
            f"{card.get('arch', '?'):<8} "
            f"{card.get('parameters', 0):>8,}  "
            + "  ".join(f"{_card_score(scores, s, 'psnr', 2):>11}" for s in sets)
            + f"  {_card_score(scores, 'BSD100', 'niqe', 3):>11}  {trained}"
        )
    return "\n".join(lines)


def _positive(kind: type) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if not value > 0:  # NaN too
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:  # NaN too
        raise argparse.ArgumentTypeError(f"must be 0 to 1, got {text}")
    return value


def _quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be 1 to 100, got {text}")
    return value


def _non_negative(kind: type) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if not value >= 0:  # NaN too
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
        return value

    return parse


def _add_strength(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strength",
        type=_fraction,
        help="for a model fine-tuned from another shipped one (real-photo, photo-gan): how much of"
        " the fine-tune, 0-1 (0: the model it started from; default: its card's, else 1)",
    )


def build_parser() -> argparse.ArgumentParser:
    from superres.io import DEFAULT_MAX_PIXELS

    parser = argparse.ArgumentParser(prog="superres", description="Deep-learning image super-resolution.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "upscale", help="upscale images", description="Upscale image files, folders or globs."
    )
    up.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    up.add_argument(
        "-o", "--output", help="output folder, or output file for a single input (default: beside each input)"
    )
    up.add_argument(
        "-m",
        "--model",
        default="default",
        help="shipped model (see `superres models`; photo-gan: the GAN), network name, or weights file",
    )
    up.add_argument(
        "-s", "--scale", type=_positive(int), help="upscaling factor of the model (default: the model's own)"
    )
    up.add_argument(
        "--outscale", type=_positive(float), help="final factor: model scale, then a bicubic resize to this"
    )
    up.add_argument(
        "--tile",
        type=_non_negative(int),
        help="tile size in input pixels (0 = whole image; default: from memory)",
    )
    up.add_argument(
        "--tile-overlap", type=_non_negative(int), default=16, help="overlap between tiles in input pixels"
    )
    up.add_argument("--tta", action="store_true", help="x8 self-ensemble: slower, slightly better")
    up.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    up.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="compute precision (auto: bf16 for shipped compact models on CPUs with native bf16, else fp32)",
    )
    _add_strength(up)
    up.add_argument("--suffix", help="added to output names (default: _x<scale>)")
    up.add_argument("--ext", help="output format by extension, e.g. png (default: as the input)")
    up.add_argument(
        "--quality", type=_quality, default=95, help="JPEG / WebP / AVIF / HEIC quality, 1-100 (default 95)"
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
    up.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    up.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave out inputs whose output exists (resume a batch; outputs are written whole or not at all)",
    )
    up.add_argument(
        "--max-pixels", type=_positive(int), default=DEFAULT_MAX_PIXELS, help="refuse larger inputs"
    )
    up.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    up.set_defaults(func=cmd_upscale)

    ev = commands.add_parser(
        "eval",
        help="score a model with the published benchmark protocol",
        description="PSNR/SSIM on Y (crop = scale) with MATLAB-bicubic LR, as in the published SR tables.",
    )
    ev.add_argument(
        "-m", "--model", default="default", help="shipped model, network name, or weights file path"
    )
    ev.add_argument(
        "--data", nargs="+", required=True, metavar="DIR", help="HR image folders (or with HR/ and LR/)"
    )
    ev.add_argument(
        "-s", "--scale", type=_positive(int), help="scale (needed for bicubic and default models)"
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
        type=_non_negative(float),
        default=0.0,
        metavar="SIGMA",
        help="add Gaussian noise of this sigma (0..255 units) to each LR image, seeded by its name",
    )
    ev.add_argument(
        "--lr-jpeg",
        type=_quality,
        metavar="QUALITY",
        help="JPEG-compress each LR image at this quality (1-100), after any --lr-noise",
    )
    ev.add_argument(
        "--niqe-params", help="niqe_pris_params.npz (default: $SUPERRES_NIQE_PARAMS or ../shared)"
    )
    ev.add_argument("--save-images", metavar="DIR", help="also write the upscaled images here")
    ev.add_argument("--per-image", action="store_true", help="a row per image as well as the means")
    ev.add_argument("--format", default="table", choices=["table", "csv", "json"])
    ev.add_argument("--tile", type=_non_negative(int), default=0, help="tile size (default 0: whole images)")
    ev.add_argument("--tile-overlap", type=_non_negative(int), default=16)
    ev.add_argument(
        "--tta",
        action="store_true",
        help="x8 self-ensemble (the '+' rows of EDSR-style tables): 8x the time, higher PSNR",
    )
    ev.add_argument("--device", default="cpu")
    ev.add_argument(
        "--precision",
        default="fp32",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="compute precision (default fp32, so scores are the same on every machine; auto as upscale)",
    )
    _add_strength(ev)
    ev.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_eval)

    tr = commands.add_parser(
        "train", help="train a model from a YAML recipe", description="Train from a recipe."
    )
    tr.add_argument("recipe", help="recipe YAML file (see recipes/)")
    tr.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    tr.add_argument(
        "--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="override recipe entries"
    )
    tr.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    tr.add_argument(
        "--stop-after", type=_positive(int), metavar="N", help="checkpoint and stop at iteration N"
    )
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)

    ex = commands.add_parser(
        "export",
        help="write a model as an ONNX file",
        description="Write a model's network as ONNX (input lr: float32 N x C x H x W in [0, 1]; output"
        " sr: N x C x sH x sW; dynamic batch and size), checked against PyTorch with ONNX Runtime.",
    )
    ex.add_argument("-m", "--model", default="default", help="shipped model, network name, or weights file")
    ex.add_argument("-s", "--scale", type=_positive(int), help="scale (for the default model)")
    ex.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    ex.add_argument("--opset", type=_positive(int), default=18, help="ONNX opset version (default 18)")
    _add_strength(ex)
    ex.add_argument("--no-check", action="store_true", help="do not run the file against PyTorch")
    ex.set_defaults(func=cmd_export, device="cpu", precision="fp32")

    models = commands.add_parser("models", help="list networks and shipped weights")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _format_warning
    try:
        return int(args.func(args))
    except OSError as exc:  # a folder that cannot be made, a disk that is full: one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
