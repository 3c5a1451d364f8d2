"""Perceptual quality of the x4 GAN model: NIQE (lower = more natural) and Y-PSNR on Set5,
Set14 and BSD100 next to bicubic, the x4 PSNR model, the published GAN peers and the HR
images themselves, with parameter counts and CPU speed, plus a picture of crops side by side.

Protocol as ``superres eval``: MATLAB-bicubic LR, HR mod-cropped to the scale, NIQE and PSNR
with a border of ``scale`` pixels cropped (the HR row is cropped the same way). Speed: output
megapixels per second over BSD100, whole images, fp32, ``--threads`` torch threads, timed
inside the same pass that scores them (network time only, as ``superres eval`` times it).

Peers (``--peers``, files or model names): Real-ESRGAN x4plus (the named model
``realesrgan-x4plus`` when ``superres fetch`` has put it on this machine, else its copy in
../shared), DITN_Real_GAN_x4 and Swift-SRGAN x4 from their official files in ../shared.

Usage: python benchmarks/gan_quality.py [--shared ../shared] [--models bicubic photo-gan-x4 ...]
       [--peers realesrgan-x4plus PATH ...] [--threads 2]
A model ``NAME@S`` is NAME at ``--strength S`` (blended with the model it was tuned from);
those rows show the trade-off and stay out of the picture.
Writes benchmarks/GAN_QUALITY.md and benchmarks/gan_crops.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import crops_picture, markdown_table, write_report, written_by

from superres.archs import count_parameters
from superres.errors import SuperresError
from superres.evaluate import EvalOptions, SetResult, evaluate_folder, iter_pairs
from superres.metrics import grid_strength, niqe
from superres.models import load_model
from superres.train.model_file import hardware_description

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set5", "Set14", "BSD100")
SCALE = 4
# (set, image stem, left, top) of square HR crops: fur, fabric, a face, natural textures
CROPS = (
    ("Set14", "baboon", 300, 40),
    ("Set14", "barbara", 380, 300),
    ("Set14", "comic", 60, 40),
    ("BSD100", "img_008_SRF_4_HR", 120, 120),
)
# Named peers and their copy in ../shared, used when the name is not on this machine.
SHARED_COPIES = {"realesrgan-x4plus": "weights/realesrgan/realesrgan-x4plus.safetensors"}
PEERS = (
    "realesrgan-x4plus",
    "{shared}/weights/ditn/DITN_Real_GAN_x4.pth",
    "{shared}/weights/swiftsrgan/swift_srgan_4x.pth.tar",
)
SPEED_REFERENCE = "realesrgan-x4plus"  # the speed column is relative to this row


def first_images(folder: Path, count: int | None, scratch: Path) -> Path:
    """``folder``, or a folder of the same name in ``scratch`` linking its first ``count``
    images (a shorter run: Real-ESRGAN x4plus takes about 15 s an image on 2 busy cores)."""
    from superres.io import image_files

    if count is None:
        return folder
    subset = scratch / folder.name
    subset.mkdir(parents=True)
    for path in image_files(folder)[:count]:
        (subset / path.name).symlink_to(path.resolve())
    return subset


def hr_scores(folder: Path, params: Path) -> tuple[float, float, int]:
    """Mean NIQE and grid strength of the HR images themselves, and their pixel count (what
    a model outputs for the set)."""
    pairs = list(iter_pairs(folder, SCALE))
    niqes = [niqe(hr, params, crop_border=SCALE) for _, hr, _ in pairs]
    grids = [grid_strength(hr, SCALE) for _, hr, _ in pairs]
    pixels = sum(hr.shape[0] * hr.shape[1] for _, hr, _ in pairs)
    return float(np.mean(niqes)), float(np.mean(grids)), pixels


def _load(name: str, shared: Path):
    """A model by name or file, and where it came from; ``NAME@S``: at strength S. A named
    peer that is not on this machine is loaded from its copy in ../shared."""
    base, _, strength = name.rpartition("@") if "@" in name else (name, "", "")
    options = {"scale": SCALE, "precision": "fp32", "strength": float(strength) if strength else None}
    try:
        model = load_model(base, **options)
    except SuperresError:
        if base not in SHARED_COPIES:
            raise
        path = shared / SHARED_COPIES[base]
        return load_model(path, **options), f"`{base}` from its copy `../shared/{SHARED_COPIES[base]}`"
    if Path(base).suffix:
        return model, f"`{os.path.relpath(base, ROOT)}`"
    return model, f"`{base}` ({model.card.get('origin') or 'superres'})"


def _label(name: str) -> str:
    """A row's label: a model's name (``NAME@S`` too), or a file's name without its suffixes."""
    path = Path(name)
    return path.name.split(".")[0] if path.is_file() else name


def _row(label: str, model, results: list[SetResult], bsd_pixels: int) -> dict:
    seconds = sum(image.seconds for image in results[-1].images)
    return {
        "label": label,
        "params": count_parameters(model.network) if model.arch != "bicubic" else 0,
        "cells": [f"{r.mean('niqe'):.3f} / {r.mean('psnr'):.2f} / {r.mean('grid'):.2f}" for r in results],
        "mp_per_s": bsd_pixels / 1e6 / seconds,
    }


def _table(rows: list[dict], hr: list[tuple[float, float, int]], sets: list[str]) -> list[str]:
    reference = next((r for r in rows if r["label"] == SPEED_REFERENCE), None)
    header = ["model", "params", *(f"{s} NIQE / PSNR / grid" for s in sets), f"{sets[-1]} MP/s"]
    if reference:
        header.append(f"speed vs {SPEED_REFERENCE}")
    lines = []
    for r in rows:
        line = [r["label"], f"{r['params']:,}", *r["cells"], f"{r['mp_per_s']:.3f}"]
        if reference:
            line.append(f"{r['mp_per_s'] / reference['mp_per_s']:.1f}x")
        lines.append(line)
    extra = ["-"] if reference else []
    lines.append(["HR images", "-", *(f"{n:.3f} / - / {g:.2f}" for n, g, _ in hr), "-", *extra])
    return markdown_table(header, lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["bicubic", "compact64-x4-mse", "photo-gan-x4@0.5", "photo-gan-x4@0.75", "photo-gan-x4"],
    )
    parser.add_argument("--peers", nargs="*", default=None, help="peer models: names or files")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (speed column)")
    parser.add_argument(
        "--sets", nargs="+", default=list(SETS), choices=SETS, help="test sets (speed: the last)"
    )
    parser.add_argument("--images", type=int, help="score only the first N images of each set")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peers = args.peers if args.peers is not None else [p.format(shared=args.shared) for p in PEERS]
    params = args.shared / "data/niqe/niqe_pris_params.npz"
    loaded = {_label(name): _load(name, args.shared) for name in [*args.models, *peers]}
    peer_labels = [_label(name) for name in peers]
    models = {label: model for label, (model, _) in loaded.items()}
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="gan_quality-"))
    folders = [first_images(args.shared / "data/test" / s, args.images, scratch) for s in args.sets]
    hr = [hr_scores(folder, params) for folder in folders]
    options = EvalOptions(("psnr", "niqe", "grid"), niqe_params=params)
    done = {}
    # The GAN and its peers first (the table keeps the given order): a run cut short has them.
    for label in sorted(models, key=lambda x: 0 if x == "photo-gan-x4" else 1 if x in peer_labels else 2):
        results = [evaluate_folder(models[label], folder, options) for folder in folders]
        done[label] = _row(label, models[label], results, hr[-1][2])
        print(done[label], file=sys.stderr, flush=True)
    rows = [done[label] for label in models]
    shutil.rmtree(scratch)
    load_after = os.getloadavg()[0]
    pictured = {label: model for label, model in models.items() if "@" not in label}
    crops_picture(pictured, args.shared, args.out / "gan_crops.png", CROPS, SCALE)
    minutes = (time.perf_counter() - started) / 60
    sources = "; ".join(f"{label}: {loaded[label][1]}" for label in peer_labels)
    shown_sets = ", ".join(f"{s} ({len(r.images)})" for s, r in zip(args.sets, results, strict=True))
    shown_sets += "" if args.images is None else f", at most the first {args.images} images of each set"
    command = " ".join(["gan_quality.py", *sys.argv[1:]])
    lines = [
        "# x4 GAN model and its peers: NIQE / Y-PSNR / grid, parameters, CPU speed",
        "",
        written_by(command, minutes) + " NIQE: lower is more natural (MATLAB-compatible,"
        " pristine model from ../shared/data/niqe); PSNR in dB on Y, border of 4 cropped; grid: strength"
        " of a pattern repeating every 4 pixels (`superres.metrics.grid_strength`; the pixel-shuffle"
        " checkerboard a GAN generator can learn; natural images score a few tenths).",
        "",
        f"Images: {shown_sets}. Speed: output megapixels per second over {args.sets[-1]}, whole images, fp32,"
        f" network time only, measured in the scoring pass; {hardware_description(torch.device('cpu'))}."
        f" The machine was shared with other work (1-minute load average {load_before:.1f} at the start,"
        f" {load_after:.1f} at the end, on {os.cpu_count()} cores): the speeds are indicative only"
        " (the quality columns do not depend on the machine).",
        "",
        *_table(rows, hr, args.sets),
        "",
        f"Peers: {sources}.",
        "",
        "Crops (HR pixels, zoomed 2x): `benchmarks/gan_crops.png`.",
        "",
    ]
    write_report(args.out / "GAN_QUALITY.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
