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

Real low-resolution photos (``--photos``, no ground truth): each photo (a PHOTO@LEFT,TOP
crop of PHOTO_SIDE pixels, or the whole photo when it is no larger) is upscaled as it is,
with its camera's noise and JPEG artefacts, and scored by NIQE; a picture shows a crop of
every photo per model (benchmarks/gan_photos.png). The photos are read where they are (not
the project's to copy): docs/models.md ("GAN") names them and where they come from.

Usage: python benchmarks/gan_quality.py [--shared ../shared] [--models bicubic photo-gan-x4 ...]
       [--peers realesrgan-x4plus PATH ...] [--threads 2] [--photos PHOTO[@LEFT,TOP] ...]
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
from PIL import Image, ImageDraw
from report import CROP_SIDE, ZOOM, crops_picture, markdown_table, write_report, written_by

from superres.archs import count_parameters
from superres.engine.options import TileOptions
from superres.errors import SuperresError
from superres.evaluate import EvalOptions, SetResult, evaluate_folder, iter_pairs, super_resolve
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
# Said after the load averages when they exceed the threads the run uses.
BUSY = (
    ": the machine was shared with other work, the speeds are indicative only (the quality"
    " columns do not depend on the machine)"
)
PHOTO_SIDE = 128  # a real photo's crop in its own pixels (x4: 512 output pixels a side)


def read_photo(spec: str) -> tuple[str, np.ndarray]:
    """A ``PHOTO[@LEFT,TOP]`` spec's name and its RGB uint8 pixels: the PHOTO_SIDE square at
    (LEFT, TOP), at the centre without a corner, the whole photo when it is no larger."""
    from superres.io import read_image

    path, _, corner = spec.partition("@")
    pixels = read_image(path).page(0).pixels
    if pixels.dtype != np.uint8:
        raise SuperresError(f"is {pixels.dtype}; the photos are 8-bit", path)
    pixels = np.repeat(pixels[:, :, :1], 3, axis=2) if pixels.shape[2] < 3 else pixels[:, :, :3]
    height, width = pixels.shape[:2]
    side_y, side_x = min(PHOTO_SIDE, height), min(PHOTO_SIDE, width)
    left, top = map(int, corner.split(",")) if corner else ((width - side_x) // 2, (height - side_y) // 2)
    if not (0 <= left <= width - side_x and 0 <= top <= height - side_y):
        raise SuperresError(f"the crop at {left},{top} does not fit its {width}x{height} pixels", path)
    return Path(path).name, np.ascontiguousarray(pixels[top : top + side_y, left : left + side_x])


def photo_scores(model, photos: list[tuple[str, np.ndarray]], params: Path) -> tuple[float, list]:
    """Mean NIQE of ``model``'s outputs for the real photos (border of SCALE cropped), and
    the outputs."""
    outputs = [super_resolve(model, pixels, TileOptions(tile=0)) for _, pixels in photos]
    return float(np.mean([niqe(out, params, crop_border=SCALE) for out in outputs])), outputs


def photos_picture(photos: list, outputs: dict[str, list], out: Path) -> None:
    """One row per photo: the photo (nearest), then each model's output; the centre
    CROP_SIDE output pixels, zoomed ZOOM x."""
    labels = ["photo (nearest)", *outputs]
    tile, header = CROP_SIDE * ZOOM, 18
    picture = Image.new("RGB", (tile * len(labels), header + tile * len(photos)), "white")
    draw = ImageDraw.Draw(picture)
    for column, label in enumerate(labels):
        draw.text((column * tile + 4, 3), label, fill="black")
    for row, (_, pixels) in enumerate(photos):
        nearest = np.repeat(np.repeat(pixels, SCALE, axis=0), SCALE, axis=1)
        top, left = ((side - CROP_SIDE) // 2 for side in nearest.shape[:2])
        box = (slice(top, top + CROP_SIDE), slice(left, left + CROP_SIDE))
        for column, view in enumerate([nearest, *(images[row] for images in outputs.values())]):
            image = Image.fromarray(view[box]).resize((tile, tile), Image.NEAREST)
            picture.paste(image, (column * tile, header + row * tile))
    picture.save(out, optimize=True)


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


def load_with_copy(name: str, shared: Path):
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


def _row(label: str, model, results: list[SetResult], bsd_pixels: int, photos_niqe: float | None) -> dict:
    seconds = sum(image.seconds for image in results[-1].images)
    cells = [f"{r.mean('niqe'):.3f} / {r.mean('psnr'):.2f} / {r.mean('grid'):.2f}" for r in results]
    return {
        "label": label,
        "params": count_parameters(model.network) if model.arch != "bicubic" else 0,
        "cells": cells if photos_niqe is None else [*cells, f"{photos_niqe:.3f}"],
        "mp_per_s": bsd_pixels / 1e6 / seconds,
    }


def _table(rows: list[dict], hr: list[tuple[float, float, int]], sets: list[str], photos: bool) -> list[str]:
    reference = next((r for r in rows if r["label"] == SPEED_REFERENCE), None)
    header = ["model", "params", *(f"{s} NIQE / PSNR / grid" for s in sets)]
    header += [*(["photos NIQE"] if photos else []), f"{sets[-1]} MP/s"]
    if reference:
        header.append(f"speed vs {SPEED_REFERENCE}")
    lines = []
    for r in rows:
        line = [r["label"], f"{r['params']:,}", *r["cells"], f"{r['mp_per_s']:.3f}"]
        if reference:
            line.append(f"{r['mp_per_s'] / reference['mp_per_s']:.1f}x")
        lines.append(line)
    extra = ["-"] * (1 + bool(reference) + photos)
    lines.append(["HR images", "-", *(f"{n:.3f} / - / {g:.2f}" for n, g, _ in hr), *extra])
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
    parser.add_argument("--photos", nargs="*", default=[], help="real photos: PHOTO[@LEFT,TOP]")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    peers = args.peers if args.peers is not None else [p.format(shared=args.shared) for p in PEERS]
    params = args.shared / "data/niqe/niqe_pris_params.npz"
    loaded = {_label(name): load_with_copy(name, args.shared) for name in [*args.models, *peers]}
    peer_labels = [_label(name) for name in peers]
    models = {label: model for label, (model, _) in loaded.items()}
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="gan_quality-"))
    folders = [first_images(args.shared / "data/test" / s, args.images, scratch) for s in args.sets]
    hr = [hr_scores(folder, params) for folder in folders]
    photos = [read_photo(spec) for spec in args.photos]
    options = EvalOptions(("psnr", "niqe", "grid"), niqe_params=params)
    done, photo_outputs = {}, {}
    # The GAN and its peers first (the table keeps the given order): a run cut short has them.
    for label in sorted(models, key=lambda x: 0 if x == "photo-gan-x4" else 1 if x in peer_labels else 2):
        results = [evaluate_folder(models[label], folder, options) for folder in folders]
        photos_niqe = None
        if photos:
            photos_niqe, photo_outputs[label] = photo_scores(models[label], photos, params)
        done[label] = _row(label, models[label], results, hr[-1][2], photos_niqe)
        print(done[label], file=sys.stderr, flush=True)
    rows = [done[label] for label in models]
    shutil.rmtree(scratch)
    load_after = os.getloadavg()[0]
    pictured = {label: model for label, model in models.items() if "@" not in label}
    crops_picture(pictured, args.shared, args.out / "gan_crops.png", CROPS, SCALE)
    if photos:
        pictured_outputs = {label: photo_outputs[label] for label in pictured}
        photos_picture(photos, pictured_outputs, args.out / "gan_photos.png")
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
        f" 1-minute load average {load_before:.1f} at the start, {load_after:.1f} at the end, on"
        f" {os.cpu_count()} cores{BUSY if max(load_before, load_after) > args.threads + 0.5 else ''}.",
        "",
        *_table(rows, hr, args.sets, bool(photos)),
        "",
        f"Peers: {sources}.",
        "",
        "Crops (HR pixels, zoomed 2x): `benchmarks/gan_crops.png`.",
        "",
    ]
    if photos:
        names = ", ".join(f"{name} ({p.shape[1]}x{p.shape[0]})" for name, p in photos)
        lines[-1:-1] = [
            f"Real photos (NIQE of the x4 output, border of 4 cropped; no ground truth): {names}."
            " Crops of each (output pixels, zoomed 2x): `benchmarks/gan_photos.png`.",
            "",
        ]
    write_report(args.out / "GAN_QUALITY.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
