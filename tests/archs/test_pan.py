"""PAN (zhaohengyuan1/PAN): the released files are detected by the file alone (x2 and x3
share every shape: the scale comes from a probe run) and meet the paper's Set5/Set14/BSD100
PSNR within 0.03 dB; any input size works, tiled too."""

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

# The paper's table (Zhao et al. 2020): Set5, Set14, BSD100 PSNR on Y. Its Set14 numbers are met with
# the grayscale bridge.png replicated to RGB (--gray-as-rgb; x4: 28.61 vs 28.52 as gray).
PUBLISHED = {
    "PANx4_DF2K": (32.13, 28.61, 27.59),
    "PANx3_DF2K": (34.40, 30.36, 29.11),
    "PANx2_DF2K": (38.00, 33.59, 32.18),
}
SMALL = {"scale": 2, "nf": 8, "unf": 4, "nb": 2}


def _psnr(shared, name: str, set_name: str) -> float:
    model = load_model(shared / f"weights/pan/{name}.pth")
    options = EvalOptions(metrics=("psnr",), gray_as_rgb=True)  # the paper's convention (Set14's bridge)
    return evaluate_folder(model, shared / "data/test" / set_name, options).mean("psnr")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_released_files_are_detected_by_the_file_alone(name):
    network, arch, params = load_real(f"pan/{name}.pth")
    assert arch == "pan"
    assert params == {"scale": int(name[4]), "in_channels": 3, "nf": 40, "unf": 24, "nb": 16}
    assert network.scale == int(name[4])


def test_pan_x4_meets_its_published_set5_psnr(shared):
    assert _psnr(shared, "PANx4_DF2K", "Set5") == pytest.approx(PUBLISHED["PANx4_DF2K"][0], abs=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in sorted(PUBLISHED) if n != "PANx4_DF2K"])
def test_released_files_meet_their_published_set5_psnr(shared, name):
    """Set5 here; Set14 and BSD100 by benchmarks/published.py (too long for the suite)."""
    assert _psnr(shared, name, "Set5") == pytest.approx(PUBLISHED[name][0], abs=0.03)


def test_detect_never_raises_on_a_mangled_state_dict_and_claims_its_own():
    state = build_network("pan", **SMALL).state_dict()
    for candidate in detection_order():
        claims = candidate.detect(state)
        assert (claims is not None) == (candidate.name == "pan"), candidate.name
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect with {label}: {type(exc).__name__}: {exc}")
    (own,) = [s for s in detection_order() if s.name == "pan"]
    assert own.detect(build_network("pan", **{**SMALL, "scale": 4}).state_dict())["scale"] == 4


@pytest.mark.parametrize("size", [(13, 19), (1, 2)])
def test_any_size_works_whole_and_tiled(shared, size):
    model = load_model(shared / "weights/pan/PANx3_DF2K.pth")
    x = torch.rand(1, 3, *size)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=8, tile_overlap=4))
    assert whole.shape == tiled.shape == (1, 3, 3 * size[0], 3 * size[1])
    assert torch.isfinite(tiled).all()
