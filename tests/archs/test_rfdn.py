"""RFDN (njulj/RFDN): the AIM 2020 file is detected by its keys alone and is a real x4 model
on Set5 (no bicubic-protocol numbers are published for it); the paper's layout (48
channels, 6 blocks) is detected too; any input size works, tiled too."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.evaluate import EvalOptions, evaluate_folder
from superres.models import load_model
from tests.archs.test_detect import _mutations
from tests.archs.vectors import load_real

SMALL = {"scale": 2, "num_feat": 8, "num_modules": 2}
BICUBIC_SET5_X4 = 28.42


def test_the_aim_file_is_detected_by_its_keys():
    network, arch, params = load_real("rfdn/RFDN_AIM.pth")
    assert arch == "rfdn" and network.scale == 4
    assert params == {
        "scale": 4,
        "in_channels": 3,
        "num_feat": 50,
        "num_modules": 4,
        "distilled": 25,
        "esa_channels": 12,
    }


@pytest.mark.slow
def test_the_aim_file_is_well_above_bicubic_on_set5(shared):
    """Measured 32.16 dB (x4); the paper's RFDN (48 channels, 6 blocks) reports 32.24."""
    model = load_model(shared / "weights/rfdn/RFDN_AIM.pth")
    psnr = evaluate_folder(model, shared / "data/test/Set5", EvalOptions(metrics=("psnr",))).mean("psnr")
    assert psnr == pytest.approx(32.16, abs=0.01) and psnr > BICUBIC_SET5_X4 + 3


def test_the_papers_layout_is_detected():
    state = build_network("rfdn", scale=3, num_feat=48, num_modules=6).state_dict()
    (own,) = [s for s in detection_order() if s.name == "rfdn"]
    assert own.detect(state) == {
        "scale": 3,
        "in_channels": 3,
        "num_feat": 48,
        "num_modules": 6,
        "distilled": 24,
        "esa_channels": 12,
    }


def test_detect_never_raises_on_a_mangled_state_dict_and_claims_its_own():
    state = build_network("rfdn", **SMALL).state_dict()
    for candidate in detection_order():
        claims = candidate.detect(state)
        assert (claims is not None) == (candidate.name == "rfdn"), candidate.name
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect with {label}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("size", [(13, 19), (5, 7)])
def test_any_size_works_whole_and_tiled(shared, size):
    model = load_model(shared / "weights/rfdn/RFDN_AIM.pth")
    x = torch.rand(1, 3, *size)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=8, tile_overlap=2))
    assert whole.shape == tiled.shape == (1, 3, 4 * size[0], 4 * size[1])
    assert torch.isfinite(tiled).all() and whole.mean().item() == pytest.approx(x.mean().item(), abs=0.05)
