"""DITN: test vectors, the released real-world x4 files against spandrel's reference
outputs, detection, and any input size (padding to the patch size) whole and tiled."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.archs import build_network
from superres.archs.ditn_arch import detect
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import check_vector, load_real, max_level_difference, reference_output

_SMALL = {"scale": 2, "dim": 8, "itl_blocks": 1, "sal_blocks": 1}


@pytest.mark.parametrize(("name", "dim"), [("DITN_03", 4), ("DITN_04", 16)])
def test_vector(name, dim):
    check_vector(name, "ditn", dim=dim, itl_blocks=4, sal_blocks=4, ufone_blocks=1, bias=False)


def _run_uint8(network: torch.nn.Module, pixels: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = network.eval()(x).clamp(0, 1)
    return (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.mark.parametrize(
    "size", [16, pytest.param(32, marks=pytest.mark.slow), pytest.param(64, marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("name", ["DITN_Real_x4", "DITN_Real_GAN_x4"])
def test_real_file_matches_reference(name, size):
    network, arch, params = load_real(f"ditn/{name}.pth")
    assert arch == "ditn" and params["scale"] == 4 and params["dim"] == 60
    source, want = reference_output(f"{name}.png", size)
    assert max_level_difference(_run_uint8(network, source), want) <= 1


def test_detect_claims_its_own_and_never_raises():
    state = build_network("ditn", **_SMALL).state_dict()
    arch, params = detect_arch(state)
    assert arch == "ditn" and params == {
        **_SMALL,
        "in_channels": 3,
        "ufone_blocks": 1,
        "ffn_expansion_factor": 2.0,
        "bias": False,
    }
    for _label, mangled in _mutations(state):
        detect(mangled)
    assert detect({k: v.to(torch.int32) for k, v in state.items()}) is None


@pytest.mark.parametrize("size", [(13, 19), (5, 3)])
def test_any_size_whole_and_tiled(size):
    network = build_network("ditn", **_SMALL).eval()
    assert network.size_multiple == 8
    model = SRModel(network, "ditn", _SMALL, "small", torch.device("cpu"))
    x = torch.rand(1, 3, *size)
    want = (1, 3, 2 * size[0], 2 * size[1])
    assert upscale_tensor(model, x, TileOptions(tile=0)).shape == want
    tiled = upscale_tensor(model, x, TileOptions(tile=8, tile_overlap=4))
    assert tiled.shape == want and bool(torch.isfinite(tiled).all())
