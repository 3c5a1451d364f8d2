"""benchmarks/readme_crops.py: each crop is the window of the whole image's output, and the
model ``auto`` picks for the whole image is the one shown."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from superres.api import upscale
from superres.engine.auto import AutoModels
from superres.models import load_model

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def readme_crops():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its neighbours (report, gan_quality)
    try:
        spec = importlib.util.spec_from_file_location("bench_readme_crops", BENCHMARKS / "readme_crops.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("corner", [(0, 0), (20, 13), (40, 40)])  # at the image's edges and inside
def test_each_crop_is_the_window_of_the_whole_images_output(readme_crops, corner):
    scale, side = readme_crops.SCALE, readme_crops.SIDE
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (side + 40, side + 40, 3), dtype=np.uint8)
    bicubic = load_model("bicubic", scale=scale)
    auto = AutoModels(scale, lambda name: bicubic)  # any pick is bicubic, so all views compare
    views, picked = readme_crops.crop_views([bicubic], auto, pixels, *corner, None)
    left, top = corner
    window = (slice(top * scale, (top + side) * scale), slice(left * scale, (left + side) * scale))
    whole = upscale(pixels, model=bicubic)[window]
    nearest = np.repeat(np.repeat(pixels[top : top + side, left : left + side], scale, 0), scale, 1)
    assert picked == "bicubic" and len(views) == 3
    np.testing.assert_array_equal(views[0], nearest)
    for view in views[1:]:
        assert view.shape == whole.shape
        assert np.abs(view.astype(int) - whole.astype(int)).max() <= 1
