"""SAFMN, its NTIRE 2023 variant and SAFMN-BCIE: test vectors of the official networks, the
NTIRE 2023 file team15_SAFMN.pth on Set5, detection and any input size (tiled too)."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import check_vector, load_real
from tests.conftest import SHARED

SMALL = {
    "safmn": {"scale": 2, "dim": 8, "n_blocks": 1, "ffn_scale": 1.5},
    "safmn_ntire": {"scale": 3, "dim": 8, "n_blocks": 1, "ffn_scale": 2.0},
    "safmn_bcie": {"scale": 1, "dim": 8, "n_blocks": 1, "num_layers": 2, "ffn_scale": 2.0, "factor": 2},
}


def test_safmn_vectors():
    check_vector("SAFMN_00", "safmn", scale=4, dim=36, n_blocks=8, ffn_scale=2.0)
    check_vector("SAFMN_02", "safmn", scale=2, dim=8, n_blocks=3, ffn_scale=5.0)


def test_safmn_bcie_vector():
    check_vector(
        "SAFMNBCIE_02", "safmn_bcie", scale=1, dim=8, n_blocks=3, num_layers=4, ffn_scale=5.0, factor=2
    )


def test_ntire_file_is_detected_as_the_variant():
    _network, arch, params = load_real("ntire/team15_SAFMN.pth")
    assert arch == "safmn_ntire"
    assert params == {"scale": 4, "in_channels": 3, "dim": 36, "n_blocks": 8, "ffn_scale": 2.0}


@pytest.mark.slow
def test_ntire_file_on_set5():
    from superres.evaluate import evaluate_folder
    from superres.models import load_model

    model = load_model(SHARED / "weights/ntire/team15_SAFMN.pth")
    result = evaluate_folder(model, SHARED / "data/test/Set5")
    assert result.mean("psnr") == pytest.approx(32.16, abs=0.02)  # bicubic: 28.42


@pytest.mark.parametrize("name", sorted(SMALL))
def test_detect_claims_its_own_and_never_raises(name):
    state = build_network(name, **SMALL[name]).state_dict()
    assert detect_arch(state) == (name, {"in_channels": 3, **SMALL[name]})
    for candidate in detection_order():
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect on {name} with {label}: {exc!r}")


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("size", [(13, 19), (5, 3)])
def test_any_size_whole_and_tiled(name, size):
    torch.manual_seed(0)
    network = build_network(name, **SMALL[name]).eval()
    s = network.scale
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        assert network(x).shape == (1, 3, size[0] * s, size[1] * s)
    model = SRModel(network, name, SMALL[name], name, torch.device("cpu"))
    y = upscale_tensor(model, torch.rand(1, 3, 29, 35), TileOptions(tile=16, tile_overlap=4))
    assert y.shape == (1, 3, 29 * s, 35 * s)
    assert torch.isfinite(y).all()
