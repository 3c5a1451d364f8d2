"""Shared fixtures. Tests that need real data read it from ../shared (never copied here);
without it they fail loudly rather than skip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
# The chain-step weight files: in the repository, not installed; loaded by path they stay fp32
# under ``auto`` precision on every CPU.
CHAIN_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "README.md").is_file():
        pytest.fail(f"../shared not found at {SHARED}: tests need the shared data beside the checkout")
    return SHARED


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


def smooth_image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth, non-trivial uint8 test picture (gradients and soft blobs)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    planes = []
    for _ in range(channels):
        fx, fy, phase = rng.uniform(2, 6, size=3)
        planes.append(0.5 + 0.4 * np.sin(fx * xx * 6.28 + phase) * np.cos(fy * yy * 6.28))
    return (np.stack(planes, axis=-1) * 255).round().astype(np.uint8)


def requantised_folder(source: Path, target: Path, peak: int, count: int | None = None) -> Path:
    """The first ``count`` (default all) PNGs of ``source`` as 0..``peak`` images in ``target``:
    8-bit for 255, else 16-bit (4095: 12-bit data in 16-bit samples)."""
    from superres.io import ImageData, read_image, write_image

    target.mkdir(parents=True)
    dtype = np.uint8 if peak == 255 else np.uint16
    for path in sorted(source.glob("*.png"))[:count]:
        pixels = read_image(path).pixels[:, :, :3].astype(np.float64)
        write_image(target / path.name, ImageData(np.round(pixels * peak / 255).astype(dtype)))
    return target
