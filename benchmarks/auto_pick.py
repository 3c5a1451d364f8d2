"""What ``auto`` (no ``-m``) picks, and whether the pick is the better model: the noise
estimate of :mod:`superres.engine.input_kind` on the published protocol's LR images, clean
and with ``--lr-noise`` / ``--lr-jpeg``; then PSNR / SSIM of the scale's default, its model
for real photos and ``auto`` on those LR images.

``auto``'s score is, image by image, the score of the model it picks for that LR image (a
JPEG LR counts as a JPEG file of that quality, as it would be on disk), so it is exactly what
``superres upscale`` without ``-m`` would give on those files.

Usage: nice python benchmarks/auto_pick.py [--shared ../shared] [--scales 4 2] [--sets Set14 BSD100]
[--lr clean jpeg95 noise2 ...] [--report AUTO_PICK.md]
Writes benchmarks/AUTO_PICK.md (or --report), rewritten after each scale and set.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from report import markdown_table, write_report, written_by

from superres.engine.input_kind import (
    JPEG_QUALITY_THRESHOLD,
    NOISE_THRESHOLD,
    InputKind,
    auto_model_name,
    noise_sigma,
)
from superres.evaluate import EvalOptions, LRDegradation, evaluate_folder, iter_pairs
from superres.models import default_model_name, load_model, shipped_of_kind

ROOT = Path(__file__).resolve().parents[1]
ESTIMATOR_SIGMAS = (0, 1, 2, 3, 4, 5, 7, 10)
# JPEG quality 90 and below, and noise sigma 10, are in REAL_PHOTO.md: auto runs the model for
# real photos on every such LR image (the JPEG's quality; every estimate at sigma 10 is over 9)
SCORED = (
    LRDegradation(),
    LRDegradation(jpeg_quality=95),
    LRDegradation(noise_sigma=2),
    LRDegradation(noise_sigma=3),
    LRDegradation(noise_sigma=5),
    LRDegradation(noise_sigma=7),
)
THRESHOLDS = (4.0, NOISE_THRESHOLD, 6.0)  # auto's score with each noise threshold


def estimates(folder: Path, scale: int, degradation: LRDegradation) -> dict[str, float]:
    """The noise estimate of each LR image of ``folder``, by image name."""
    return {name: noise_sigma(lr) for name, _, lr in iter_pairs(folder, scale, degradation=degradation)}


def estimator_rows(shared: Path, scale: int, sets: list[str]) -> list[list[str]]:
    """Per set and noise sigma: the estimate's median, range, and share above the threshold."""
    rows = []
    for set_name in sets:
        for sigma in ESTIMATOR_SIGMAS:
            found = np.array(
                list(estimates(shared / "data/test" / set_name, scale, LRDegradation(sigma)).values())
            )
            above = f"{(found > NOISE_THRESHOLD).sum()} of {found.size}"
            row = [
                f"x{scale}",
                set_name,
                f"{sigma:g}",
                f"{np.median(found):.2f}",
                f"{found.min():.2f}-{found.max():.2f}",
                above,
            ]
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    return rows


def auto_scores(
    scores: dict, found: dict[str, float], quality: int | None, scale: int, threshold: float
) -> str:
    """Mean PSNR / SSIM of the models ``auto`` picks, image by image, with noise ``threshold``,
    and on how many images it ran the model for real photos."""
    default, real = (auto_model_name(InputKind(None, sigma), scale) for sigma in (0.0, 99.0))
    compressed = InputKind(quality, 0.0).compressed
    picks = {n: real if compressed or sigma > threshold else default for n, sigma in found.items()}
    chosen = [scores[pick][name] for name, pick in picks.items()]
    psnr, ssim = np.mean([s["psnr"] for s in chosen]), np.mean([s["ssim"] for s in chosen])
    return f"{psnr:.2f} / {ssim:.4f} ({sum(pick == real for pick in picks.values())})"


def label(degradation: LRDegradation) -> str:
    """``clean``, ``jpeg95`` or ``noise5``: how --lr names a degradation."""
    if degradation.jpeg_quality is not None:
        return f"jpeg{degradation.jpeg_quality}"
    return f"noise{degradation.noise_sigma:g}" if degradation.noise_sigma else "clean"


def score_rows(shared: Path, scale: int, set_name: str, scored: list[LRDegradation]) -> list[str]:
    """Per degraded LR: PSNR / SSIM of the default, the model for real photos and auto; each
    image's noise estimate and PSNRs go to stderr."""
    names = [default_model_name(scale), *sorted(shipped_of_kind("real", scale))]
    models = {name: load_model(name, scale=scale, precision="fp32") for name in names}
    folder = shared / "data/test" / set_name
    rows = []
    for degradation in scored:
        options = EvalOptions(degradation=degradation)
        results = {name: evaluate_folder(model, folder, options) for name, model in models.items()}
        found = estimates(folder, scale, degradation)
        scores = {name: {im.name: im.scores for im in r.images} for name, r in results.items()}
        for image, sigma in found.items():
            psnrs = " ".join(f"{scores[n][image]['psnr']:.3f}" for n in names)
            print(
                f"x{scale} {set_name} {degradation.eval_options()} {image} {sigma:.2f} {psnrs}",
                file=sys.stderr,
            )
        row = [set_name, f"`{degradation.eval_options() or '(none)'}`"]
        row += [f"{r.mean('psnr'):.2f} / {r.mean('ssim'):.4f}" for r in results.values()]
        row += [auto_scores(scores, found, degradation.jpeg_quality, scale, t) for t in THRESHOLDS]
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    header = ["set", "LR", *names, *(f"auto, noise > {t:g}" for t in THRESHOLDS)]
    return markdown_table(header, rows)


def report(minutes: float, noise: list[list[str]], sections: list[str]) -> list[str]:
    """The lines of AUTO_PICK.md."""
    return [
        "# What `auto` picks",
        "",
        written_by(" ".join(["auto_pick.py", *sys.argv[1:]]), minutes)
        + " LR: the published protocol's MATLAB-bicubic LR, then"
        " Gaussian noise seeded per image or JPEG by Pillow (`superres eval --lr-noise S`,"
        " `--lr-jpeg Q`). PSNR in dB and SSIM on Y against the clean HR image, border of the scale"
        " cropped. `auto` runs the scale's model for real photos on a JPEG at quality"
        f" {JPEG_QUALITY_THRESHOLD} or below or an image whose noise estimate is over the noise"
        f" threshold ({NOISE_THRESHOLD:g} in `superres/engine/input_kind.py`; the columns show"
        f" {', '.join(f'{t:g}' for t in THRESHOLDS)}), the default otherwise; in brackets, on how"
        " many images it ran the model for real photos. JPEG quality 90 and below, and noise 10:"
        " [REAL_PHOTO.md](REAL_PHOTO.md), where"
        " auto's score is the model for real photos' (it picks that model for every such image).",
        "",
        "## The noise estimate on LR images (8-bit units)",
        "",
        *markdown_table(
            ["scale", "set", "--lr-noise", "median", "range", f"over {NOISE_THRESHOLD:g}"], noise
        ),
        "",
        *sections,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--scales", type=int, nargs="+", default=[4, 2])
    parser.add_argument("--sets", nargs="+", default=["Set14", "BSD100"])
    parser.add_argument("--lr", nargs="+", choices=[label(d) for d in SCORED], help="default: all")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--report", default="AUTO_PICK.md")
    args = parser.parse_args()
    scored = [d for d in SCORED if args.lr is None or label(d) in args.lr]
    started = time.perf_counter()
    noise = [row for scale in args.scales for row in estimator_rows(args.shared, scale, ["Set5", *args.sets])]
    sections: list[str] = []
    for set_name in args.sets:  # the report is rewritten after each part
        for scale in args.scales:
            sections += [
                f"## x{scale} {set_name}: PSNR / SSIM",
                "",
                *score_rows(args.shared, scale, set_name, scored),
                "",
            ]
            minutes = (time.perf_counter() - started) / 60
            write_report(args.out / args.report, report(minutes, noise, sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
