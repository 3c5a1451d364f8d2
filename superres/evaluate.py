"""The benchmark protocol of the published SR tables, applied to a model and folders of images.

For each HR image: crop to a multiple of the scale; make the LR image with MATLAB's
``imresize(HR, 1/s, 'bicubic')`` on uint8 (or take it from a paired LR folder); upscale
the whole image (no tiles, as the papers do); round to uint8; compare on the Y channel
after cropping ``s`` pixels from each border. Grayscale images are compared as themselves,
as in RCAN's bicubic table; some papers (IMDN, for one) replicated them to RGB and took Y,
which lifts Set14 (whose bridge.png is gray) by ~0.09 dB: ``gray_as_rgb`` reproduces that.
``LRDegradation`` adds Gaussian noise and JPEG compression to each LR image, the same on
every run, to score models meant for real photos on inputs like theirs.
16-bit images go the same way in uint16 (LR, rounding) and are scored on the 0..255 scale
by their bit depth in use (12-bit data: PSNR with 4095 as the peak). DICOM and NIfTI
images (their first slice) are scored as their stored integers less the HR image's least
value, so the peak is the data's own range (a 12-bit CT: 4095).
"""

from __future__ import annotations

import io
import json
import math
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from superres.api import upscale_image
from superres.engine.options import TileOptions, UpscaleOptions
from superres.engine.values import value_range
from superres.errors import SuperresError
from superres.io import ImageData, image_files, read_image, write_image
from superres.metrics import GRID_BLUR, NIQE_BLOCK, SSIM_WINDOW, grid_strength, mod_crop, niqe, psnr, ssim
from superres.models import SRModel
from superres.resize import imresize

METRICS = ("psnr", "ssim", "niqe", "grid")  # grid: a pattern repeating every `scale` pixels


@dataclass(frozen=True)
class ImageResult:
    name: str
    scores: dict[str, float]
    seconds: float  # time in the network (and tiling), not in I/O or metrics


@dataclass(frozen=True)
class SetResult:
    name: str
    scale: int
    images: list[ImageResult] = field(default_factory=list)

    def mean(self, metric: str) -> float:
        values = [im.scores[metric] for im in self.images if metric in im.scores]
        return float(np.mean(values)) if values else math.nan


def resize_integer(pixels: np.ndarray, scale: float, peak: float | None = None) -> np.ndarray:
    """An HxWxC uint8 or uint16 image resized by ``scale`` as MATLAB's imresize does on that
    type (rounded and clamped after each pass), in the same type; 16-bit images are clamped
    to ``peak``, by default the largest value of their bit depth in use, so 12-bit data stays
    12-bit. Pass the source's peak for an image derived from another (a downscaled copy of
    12-bit data may use fewer bits)."""
    peak = value_range(pixels)[1] if peak is None else peak
    planes = torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)
    resized = imresize(planes, scale=scale, uint8_path=True, peak=peak)
    return resized.permute(1, 2, 0).numpy().astype(pixels.dtype)


def make_lr(hr: np.ndarray, scale: int, peak: float | None = None) -> np.ndarray:
    """LR image from an HR uint8 or uint16 image (H and W multiples of ``scale``), MATLAB-style;
    ``peak`` as in :func:`resize_integer`."""
    return resize_integer(hr, 1 / scale, peak)


@dataclass(frozen=True)
class LRDegradation:
    """What is done to each LR image after the bicubic downscale: Gaussian noise of
    ``noise_sigma`` (0..255 units; 16-bit images by their bit depth in use), then JPEG at
    ``jpeg_quality`` (Pillow's libjpeg, 4:2:0; 8-bit only). The noise of an image is seeded
    by its name, so a score does not depend on the order or the run."""

    noise_sigma: float = 0.0
    jpeg_quality: int | None = None

    def describe(self) -> str:
        parts = [f"Gaussian noise sigma {self.noise_sigma:g}"] if self.noise_sigma else []
        parts += [f"JPEG quality {self.jpeg_quality}"] if self.jpeg_quality is not None else []
        return "LR + " + " + ".join(parts) if parts else "clean LR"

    def eval_options(self) -> str:
        """The ``superres eval`` options that make this degradation ("" for none)."""
        parts = [f"--lr-noise {self.noise_sigma:g}"] if self.noise_sigma else []
        parts += [f"--lr-jpeg {self.jpeg_quality}"] if self.jpeg_quality is not None else []
        return " ".join(parts)

    def apply(self, lr: np.ndarray, name: str) -> np.ndarray:
        """``lr`` degraded; ``name`` (the image's stem, not its path) seeds the noise."""
        if self.noise_sigma:
            peak = value_range(lr)[1]
            rng = np.random.default_rng(zlib.crc32(name.encode()))
            noise = rng.standard_normal(lr.shape) * (self.noise_sigma * peak / 255)
            lr = np.clip(np.round(lr + noise), 0, peak).astype(lr.dtype)  # same bit depth
        if self.jpeg_quality is not None:
            if lr.dtype != np.uint8:
                raise SuperresError(f"JPEG degradation needs 8-bit images, found {lr.dtype}")
            buffer = io.BytesIO()
            Image.fromarray(lr[:, :, 0] if lr.shape[2] == 1 else lr).save(
                buffer, format="JPEG", quality=self.jpeg_quality
            )
            lr = np.asarray(Image.open(buffer)).reshape(lr.shape)
        return lr


def lr_partner(lr_folder: Path, stem: str, scale: int) -> Path:
    """The LR file for an HR stem: same stem, or the stem plus a scale tag (x4, _x4, x4_LR...)."""
    candidates = [p for p in image_files(lr_folder) if p.stem == stem]
    if not candidates:
        tags = (f"x{scale}", f"_x{scale}", f"x{scale}_LR", f"_LR_x{scale}", f"_LRx{scale}")
        candidates = [p for p in image_files(lr_folder) if p.stem in {stem + t for t in tags}]
    if not candidates:
        raise SuperresError(f"no LR image for {stem!r}", lr_folder)
    return candidates[0]


def iter_pairs(
    folder: Path, scale: int, gray_as_rgb: bool = False, degradation: LRDegradation | None = None
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR, LR) uint8 triples: from ``folder/HR`` + ``folder/LR`` when both exist
    (LR may also sit in ``folder/LR/x{scale}``), else HR images with LR made on the fly;
    ``degradation`` applied to either. A DICOM or NIfTI volume gives one pair per slice
    (frame, time point), named ``stem[k]``."""
    hr_folder, lr_folder = folder / "HR", folder / "LR"
    paired = hr_folder.is_dir() and lr_folder.is_dir()
    if paired and (lr_folder / f"x{scale}").is_dir():
        lr_folder = lr_folder / f"x{scale}"
    for path in image_files(hr_folder if paired else folder):
        hr_pages, offset = _eval_pages(path)
        lr_path = lr_partner(lr_folder, path.stem, scale) if paired else None
        lr_pages = _eval_pages(lr_path, offset)[0] if lr_path else [None] * len(hr_pages)
        if len(lr_pages) != len(hr_pages):
            raise SuperresError(f"has {len(lr_pages)} slices, its HR image {len(hr_pages)}", lr_path)
        for k, (hr, lr) in enumerate(zip(hr_pages, lr_pages, strict=True)):
            name = path.stem if len(hr_pages) == 1 else f"{path.stem}[{k}]"
            hr, lr = _checked_pair(hr, lr, scale, gray_as_rgb, (path, lr_path))
            if degradation is not None:
                try:
                    lr = degradation.apply(lr, name)
                except SuperresError as error:
                    raise SuperresError(error.problem, lr_path or path) from None
            yield name, hr, lr


def _checked_pair(
    hr: np.ndarray, lr: np.ndarray | None, scale: int, gray_as_rgb: bool, paths: tuple[Path, Path | None]
) -> tuple[np.ndarray, np.ndarray]:
    """The HR image mod-cropped (and replicated to RGB with ``gray_as_rgb``) and its LR image:
    ``lr`` checked against it, or made from it when None. ``paths``: HR's and LR's files."""
    path, lr_path = paths
    if hr.dtype not in (np.uint8, np.uint16):
        raise SuperresError(f"evaluation expects 8- or 16-bit images, found {hr.dtype}", path)
    hr = mod_crop(hr[:, :, : 3 if hr.shape[2] >= 3 else 1], scale)
    if min(hr.shape[:2]) == 0:
        raise SuperresError(f"image is smaller than the scale ({scale}): it has no LR image", path)
    if gray_as_rgb and hr.shape[2] == 1:
        hr = np.repeat(hr, 3, axis=2)
    if lr is None:
        return hr, make_lr(hr, scale)
    lr = np.repeat(lr, 3, axis=2) if lr.shape[2] == 1 and hr.shape[2] == 3 else lr[:, :, : hr.shape[2]]
    if lr.dtype != hr.dtype:
        raise SuperresError(f"LR is {lr.dtype}, its HR image {hr.dtype}", lr_path)
    if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
        raise SuperresError(f"LR size {lr.shape[1]}x{lr.shape[0]} does not match HR / {scale}", lr_path)
    return hr, lr


def _eval_pages(path: Path, offset: int | None = None) -> tuple[list[np.ndarray], int | None]:
    """The pages to score of an image file: its first page; every slice of a DICOM or NIfTI
    volume, as its stored integers less ``offset`` (by default the volume's least value,
    which is returned: its LR partner shares it)."""
    image = read_image(path)
    if image.medical is None:
        return [image.page(0).pixels], offset
    from superres.io.medical import stored_pages

    return stored_pages(image, path, offset=offset)


def super_resolve(model: SRModel, lr: np.ndarray, options: TileOptions) -> np.ndarray:
    """Upscale a uint8 LR image and round to uint8, as evaluation scripts save results."""
    return upscale_image(model, ImageData(lr), UpscaleOptions(tiling=options)).pixels


@dataclass(frozen=True)
class EvalOptions:
    """How :func:`evaluate_folder` scores: ``metrics`` (of METRICS); ``tiling`` (default whole
    images, as the papers do); on the Y channel or (``y_channel=False``) RGB; ``niqe_params``:
    the pristine NIQE model, needed for "niqe"; ``save_dir``: also write the upscaled images
    to ``save_dir/<folder name>/``; ``gray_as_rgb``, ``degradation``: see the module docstring."""

    metrics: tuple[str, ...] = ("psnr", "ssim")
    tiling: TileOptions = TileOptions(tile=0)
    y_channel: bool = True
    niqe_params: Path | None = None
    save_dir: Path | None = None
    gray_as_rgb: bool = False
    degradation: LRDegradation | None = None


def evaluate_folder(
    model: SRModel,
    folder: str | Path,
    options: EvalOptions = EvalOptions(),
    *,
    on_image: Callable[[str], None] | None = None,
) -> SetResult:
    """Score ``model`` on one folder (a test set) with the protocol in the module docstring;
    ``on_image(name)`` after each image."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SuperresError("no such folder", folder)
    scale, metrics = model.scale, options.metrics
    result = SetResult(folder.name, scale)
    for name, hr, lr in iter_pairs(folder, scale, options.gray_as_rgb, options.degradation):
        problem = _too_small(metrics, scale, *hr.shape[:2])
        if problem:
            raise SuperresError(f"{name} {problem}", folder)
        start = time.perf_counter()
        sr = super_resolve(model, lr, options.tiling)
        seconds = time.perf_counter() - start
        scores = _scores(*_in_8bit_units(sr, hr), metrics, scale, options.y_channel, options.niqe_params)
        if options.save_dir is not None:
            out = Path(options.save_dir) / folder.name / f"{name}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            write_image(out, ImageData(sr))
        result.images.append(ImageResult(name, scores, seconds))
        if on_image:
            on_image(name)
    if not result.images:
        raise SuperresError("holds no images", folder)
    return result


def _too_small(metrics: tuple[str, ...], scale: int, height: int, width: int) -> str | None:
    """Why an HR image of this size cannot be scored with ``metrics`` at ``scale`` (None if it
    can): each metric needs a least side, most of them after the border crop."""
    crop = f"after cropping {scale} pixels from each border"
    needs = {
        "psnr": (2 * scale + 1, f"to keep a pixel {crop}"),
        "ssim": (2 * scale + SSIM_WINDOW, f"for SSIM's {SSIM_WINDOW}-pixel window {crop}"),
        "niqe": (2 * scale + NIQE_BLOCK, f"for NIQE's {NIQE_BLOCK}-pixel blocks {crop}"),
        "grid": (GRID_BLUR - 1 + scale, f"for the grid metric's {GRID_BLUR}-pixel blur and one period"),
    }
    for metric in metrics:
        side, reason = needs[metric]
        if min(height, width) < side:
            leave = "" if metric == "psnr" else f"; leave {metric} out of --metrics"
            return f"is {width}x{height}: too small {reason} (at least {side} pixels a side{leave})"
    return None


def _in_8bit_units(sr: np.ndarray, hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """16-bit images on the 0..255 scale the metrics use (unrounded), by the HR image's bit
    depth as inference maps it: PSNR then has that depth's largest value as its peak."""
    if hr.dtype == np.uint8:
        return sr, hr
    unit = 255.0 / value_range(hr)[1]
    return sr.astype(np.float64) * unit, hr.astype(np.float64) * unit


def _scores(
    sr: np.ndarray,
    hr: np.ndarray,
    metrics: tuple[str, ...],
    scale: int,
    y_channel: bool,
    niqe_params: Path | None,
) -> dict[str, float]:
    scores: dict[str, float] = {}
    if "psnr" in metrics:
        scores["psnr"] = psnr(sr, hr, crop_border=scale, y_channel=y_channel)
    if "ssim" in metrics:
        scores["ssim"] = ssim(sr, hr, crop_border=scale, y_channel=y_channel)
    if "niqe" in metrics:
        if niqe_params is None:
            raise SuperresError("NIQE needs the pristine-model file: pass --niqe-params PATH")
        scores["niqe"] = niqe(sr, niqe_params, crop_border=scale)
    if "grid" in metrics:
        scores["grid"] = grid_strength(sr, scale)
    return scores


def format_results(
    model: SRModel,
    results: list[SetResult],
    *,
    metrics: tuple[str, ...],
    style: str = "table",
    per_image: bool = False,
    tta: bool = False,
    degradation: LRDegradation | None = None,
) -> str:
    """Render results as a Markdown table (``style`` "table"), CSV or JSON, with a row per
    image too if ``per_image``; ``tta`` marks self-ensemble scores, ``degradation`` scores on
    degraded LR."""
    columns = [m for m in METRICS if m in metrics]
    if style == "json":
        payload = {
            "model": model.name,
            "arch": model.arch,
            "scale": model.scale,
            "tta": tta,
            "lr": (degradation or LRDegradation()).describe(),
            "sets": [
                {
                    "name": r.name,
                    "images": len(r.images),
                    **{m: r.mean(m) for m in columns},
                    **({"per_image": [asdict(im) for im in r.images]} if per_image else {}),
                }
                for r in results
            ],
        }
        return json.dumps(payload, indent=2)
    rows = []
    for r in results:
        if per_image:
            rows += [[r.name, im.name, *(f"{im.scores[m]:.4f}" for m in columns)] for im in r.images]
        rows.append([r.name, f"mean of {len(r.images)}", *(f"{r.mean(m):.4f}" for m in columns)])
    header = ["set", "image", *(m.upper() for m in columns)]
    if style == "csv":
        return "\n".join(",".join(row) for row in [header, *rows])
    notes = [f"x{model.scale}"] + ["x8 self-ensemble"] * tta
    notes += [degradation.describe()] if degradation and degradation != LRDegradation() else []
    title = f"{model.name} ({model.arch}, {', '.join(notes)})"
    lines = [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
