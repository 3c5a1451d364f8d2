"""Real-world degradation synthesis, after Real-ESRGAN's second-order model (Wang et al. 2021).

An HR patch becomes an LR patch through one or more stages of
    blur (isotropic / anisotropic Gaussian, generalized Gaussian, or sinc)
    -> random resize (up, down or keep; area, bilinear or bicubic)
    -> Gaussian or Poisson noise (colour or gray)
    -> JPEG compression,
then a resize to the LR size and, in random order, a sinc filter and a last JPEG.
Every random choice comes from the generator passed in, so a sample is reproducible from
its seed. Runs per sample on the CPU (in DataLoader workers).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from superres.errors import SuperresError
from superres.resize import imresize


@dataclass(frozen=True)
class DegradationStage:
    blur_prob: float = 1.0
    kernel_kinds: dict[str, float] = field(
        default_factory=lambda: {
            "iso": 0.45,
            "aniso": 0.25,
            "generalized_iso": 0.12,
            "generalized_aniso": 0.03,
            "sinc": 0.15,
        }
    )
    kernel_sizes: list[int] = field(default_factory=lambda: [7, 9, 11, 13, 15, 17, 19, 21])
    blur_sigma: list[float] = field(default_factory=lambda: [0.2, 3.0])
    generalized_beta: list[float] = field(default_factory=lambda: [0.5, 4.0])
    resize_prob: dict[str, float] = field(default_factory=lambda: {"up": 0.2, "down": 0.7, "keep": 0.1})
    resize_range: list[float] = field(default_factory=lambda: [0.15, 1.5])
    gaussian_noise_prob: float = 0.5  # else Poisson noise
    noise_sigma: list[float] = field(default_factory=lambda: [1.0, 30.0])  # in 0..255 units
    poisson_scale: list[float] = field(default_factory=lambda: [0.05, 3.0])
    gray_noise_prob: float = 0.4
    jpeg_quality: list[int] = field(default_factory=lambda: [30, 95])


@dataclass(frozen=True)
class DegradationConfig:
    # Real-ESRGAN's defaults: a strong first stage, a milder second one.
    stages: list[DegradationStage] = field(
        default_factory=lambda: [
            DegradationStage(),
            DegradationStage(
                blur_prob=0.8,
                blur_sigma=[0.2, 1.5],
                resize_prob={"up": 0.3, "down": 0.4, "keep": 0.3},
                resize_range=[0.3, 1.2],
                noise_sigma=[1.0, 25.0],
                poisson_scale=[0.05, 2.5],
            ),
        ]
    )
    final_sinc_prob: float = 0.8
    # A share of samples left clean: the MATLAB-bicubic LR of the test protocol, so the model
    # keeps what it knew of clean images. 0 (Real-ESRGAN's setting) draws nothing for it.
    clean_prob: float = 0.0


# Each stage's [low, high] ranges and the bound ``low`` must keep (> or >=).
_RANGE_BOUNDS = {
    "blur_sigma": (">", 0),
    "generalized_beta": (">", 0),
    "resize_range": (">", 0),
    "noise_sigma": (">=", 0),
    "poisson_scale": (">=", 0),
    "jpeg_quality": (">=", 1),
}


def check_degradation(config: DegradationConfig) -> None:
    """Refuse (SuperresError, naming the key) values the degradation cannot run with: those
    that would fail mid-training (a zero blur sigma, no stages) or be clamped silently."""
    key = "data.degradation"
    if not config.stages:
        raise SuperresError(f"{key}.stages must hold at least one stage")
    probabilities = {f"{key}.final_sinc_prob": config.final_sinc_prob, f"{key}.clean_prob": config.clean_prob}
    for i, stage in enumerate(config.stages):
        where = f"{key}.stages[{i}]."
        for name in ("blur_prob", "gaussian_noise_prob", "gray_noise_prob"):
            probabilities[where + name] = getattr(stage, name)
        for name, (bound, least) in _RANGE_BOUNDS.items():
            low, high = getattr(stage, name)
            if not (low > least if bound == ">" else low >= least) or low > high:
                problem = f"must be [low, high] with {least} {bound.replace('>', '<')} low <= high"
                raise SuperresError(f"{where}{name} {problem}, got {[low, high]}")
        if stage.jpeg_quality[1] > 100:
            raise SuperresError(f"{where}jpeg_quality must be at most 100, got {stage.jpeg_quality}")
        if not stage.kernel_sizes or any(size < 1 or size % 2 == 0 for size in stage.kernel_sizes):
            raise SuperresError(f"{where}kernel_sizes must be odd sizes, got {stage.kernel_sizes}")
        for name in ("kernel_kinds", "resize_prob"):
            weights = getattr(stage, name)
            if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise SuperresError(f"{where}{name} must be weights of 0 or more, not all 0; got {weights}")
    for name, value in probabilities.items():
        if not 0 <= value <= 1:
            raise SuperresError(f"{name} must be from 0 to 1, got {value}")


def _uniform(rng: np.random.Generator, bounds: list[float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, angle: float, beta: float = 1.0) -> np.ndarray:
    """(Generalized) Gaussian kernel: exp(-0.5 * (x' S^-1 x)^beta), S from the two sigmas and
    a rotation; beta = 1 is the ordinary Gaussian. Normalised to sum 1."""
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    inverse = np.linalg.inv(rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T)
    ax = np.arange(size) - size // 2
    grid = np.stack(np.meshgrid(ax, ax, indexing="xy"), axis=-1)
    quad = np.einsum("...i,ij,...j->...", grid, inverse, grid)
    kernel = np.exp(-0.5 * quad**beta)
    return kernel / kernel.sum()


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """Circular low-pass (2-D sinc) kernel with angular cutoff frequency ``cutoff`` (rad/px):
    it imitates ringing and overshoot artifacts."""
    ax = np.arange(size) - size // 2
    r = np.hypot(*np.meshgrid(ax, ax, indexing="xy"))
    j1 = torch.special.bessel_j1(torch.from_numpy(cutoff * r)).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * j1 / (2 * np.pi * r)
    kernel[size // 2, size // 2] = cutoff**2 / (4 * np.pi)
    return kernel / kernel.sum()


def random_kernel(rng: np.random.Generator, stage: DegradationStage) -> np.ndarray:
    size = int(rng.choice(stage.kernel_sizes))
    kind = _choice(rng, stage.kernel_kinds)
    if kind == "sinc":
        low = math.pi / 3 if size < 13 else math.pi / 5
        return sinc_kernel(size, float(rng.uniform(low, math.pi)))
    sigma_x = _uniform(rng, stage.blur_sigma)
    sigma_y = (
        sigma_x if kind.endswith("iso") and not kind.endswith("aniso") else _uniform(rng, stage.blur_sigma)
    )
    angle = 0.0 if sigma_x == sigma_y else float(rng.uniform(-math.pi, math.pi))
    beta = _uniform(rng, stage.generalized_beta) if kind.startswith("generalized") else 1.0
    return gaussian_kernel(size, sigma_x, sigma_y, angle, beta)


def _filter(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Convolve each channel of a C x H x W tensor with ``kernel`` (reflect padding)."""
    k = torch.from_numpy(kernel.astype(np.float32))
    pad = kernel.shape[0] // 2
    padded = F.pad(x[None], (pad, pad, pad, pad), mode="reflect" if min(x.shape[-2:]) > pad else "replicate")
    weight = k.expand(x.shape[0], 1, *k.shape).contiguous()
    return F.conv2d(padded, weight, groups=x.shape[0])[0]


def _resize(x: torch.Tensor, size: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    mode = ("area", "bilinear", "bicubic")[int(rng.integers(3))]
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(x[None], size=size, mode=mode, **kwargs)[0]


def _noise(x: torch.Tensor, rng: np.random.Generator, stage: DegradationStage) -> torch.Tensor:
    gray = rng.random() < stage.gray_noise_prob
    shape = (1, *x.shape[1:]) if gray else tuple(x.shape)
    if rng.random() < stage.gaussian_noise_prob:
        sigma = _uniform(rng, stage.noise_sigma) / 255
        noise = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) * sigma
    else:
        scale = _uniform(rng, stage.poisson_scale)
        source = x.mean(0, keepdim=True) if gray else x
        levels = 2 ** math.ceil(math.log2(max(2, len(np.unique((source.numpy() * 255).round())))))
        counts = rng.poisson(np.clip(source.numpy(), 0, 1) * levels)
        noise = (torch.from_numpy(counts.astype(np.float32)) / levels - source) * scale
    return x + noise.expand_as(x)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    pixels = (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(buffer)).reshape(pixels.shape)
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1).float() / 255


def degrade(
    hr: torch.Tensor, scale: int, config: DegradationConfig, rng: np.random.Generator
) -> torch.Tensor:
    """LR (C x H/scale x W/scale, float in [0, 1], 8-bit quantised) from an HR patch."""
    height, width = hr.shape[-2:]
    if config.clean_prob and rng.random() < config.clean_prob:
        return (imresize(hr, size=(height // scale, width // scale)).clamp(0, 1) * 255).round() / 255
    x = hr
    stage = config.stages[0]
    for stage in config.stages:
        if rng.random() < stage.blur_prob:
            x = _filter(x, random_kernel(rng, stage))
        direction = _choice(rng, stage.resize_prob)
        factor = {
            "up": rng.uniform(1, stage.resize_range[1]),
            "down": rng.uniform(stage.resize_range[0], 1),
        }.get(direction, 1.0)
        if factor != 1.0:
            size = (max(1, round(x.shape[-2] * factor)), max(1, round(x.shape[-1] * factor)))
            x = _resize(x, size, rng)
        x = _noise(x, rng, stage).clamp(0, 1)
        x = _jpeg(x, int(rng.integers(stage.jpeg_quality[0], stage.jpeg_quality[1] + 1)))
    x = _resize(x, (height // scale, width // scale), rng)
    quality = int(rng.integers(stage.jpeg_quality[0], stage.jpeg_quality[1] + 1))
    sinc = rng.random() < config.final_sinc_prob
    cutoff, size = float(rng.uniform(math.pi / 3, math.pi)), int(rng.choice(stage.kernel_sizes))
    if rng.random() < 0.5:
        x = _jpeg(_filter(x, sinc_kernel(size, cutoff)) if sinc else x, quality)
    else:
        x = _jpeg(x, quality)
        x = _filter(x, sinc_kernel(size, cutoff)) if sinc else x
    return (x.clamp(0, 1) * 255).round() / 255
