"""CRAFT: the test vector, detection from shapes, any input size, the NTIRE 2024 team34 file."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.archs.rwin_blocks import offset_grid, relative_index
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.evaluate import evaluate_folder
from superres.models import load_model
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import check_vector, load_real

_SMALL = {
    "scale": 3,
    "embed_dim": 32,
    "depths": [1, 2],
    "num_heads": [4, 2],
    "split_size": [2, 8],
    "mlp_ratio": 2.0,
    "hfb_hidden": 85,
    "swapped_tables": False,
    "resi_connection": "1conv",
}


def _released_layout(network: torch.nn.Module, swapped: bool = False) -> dict[str, torch.Tensor]:
    """The state dict with the buffers the official code stores (the team34 way round when
    ``swapped``)."""
    s0, s1 = network.layers[0].residual_group.srwa_blocks[0].attns[0].window
    tables = {"biases_h": offset_grid(s0, s1), "biases_v": offset_grid(s1, s0)}
    if swapped:
        tables = {"biases_h": tables["biases_v"], "biases_v": tables["biases_h"]}
    return {
        "relative_position_index_h": relative_index(s0, s1),
        "relative_position_index_v": relative_index(s1, s0),
        **tables,
        **network.state_dict(),
    }


def test_vector_matches():
    network = check_vector("CRAFT_05", "craft", depths=[2, 2], num_heads=[6, 6], split_size=[4, 16])
    assert network.size_multiple == 16


@pytest.mark.parametrize("swapped", [False, True])
def test_detect_reads_every_hyper_parameter(swapped):
    state = _released_layout(build_network("craft", **_SMALL), swapped)
    assert detect_arch(state) == ("craft", {**_SMALL, "in_channels": 3, "swapped_tables": swapped})
    assert [s.name for s in detection_order() if s.detect(state) is not None] == ["craft"]


def test_released_layout_loads_and_any_size_runs(tmp_path):
    network = build_network("craft", **_SMALL).eval()
    path = tmp_path / "craft.pth"
    torch.save({"params": _released_layout(network)}, path)
    model = load_model(path, precision="fp32")
    assert model.arch == "craft" and model.network.size_multiple == 16
    x = torch.rand(1, 3, 13, 19)
    with torch.no_grad():
        want = network(x)
    got = model(x)
    assert got.shape == (1, 3, 39, 57)
    assert torch.allclose(got, want, atol=1e-5)
    tiny = model(torch.rand(1, 3, 1, 5))  # smaller than the padding: mirrored repeatedly
    assert tiny.shape == (1, 3, 3, 15)
    tiled = upscale_tensor(model, x, TileOptions(tile=16, tile_overlap=2))
    assert tiled.shape == got.shape and torch.isfinite(tiled).all()


def test_detect_never_raises_on_a_mangled_state_dict():
    state = _released_layout(build_network("craft", **{**_SMALL, "depths": [1], "num_heads": [4]}))
    for candidate in detection_order():
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect on craft with {label}: {type(exc).__name__}: {exc}")


def test_team34_file_is_detected(shared):
    _, arch, params = load_real("ntire/team34_craft.pth")
    assert arch == "craft"
    assert params == {
        "scale": 4,
        "in_channels": 3,
        "embed_dim": 48,
        "depths": [2, 2, 2, 2],
        "num_heads": [6, 6, 6, 6],
        "split_size": [4, 16],
        "mlp_ratio": 2.0,
        "hfb_hidden": 127,
        "swapped_tables": True,  # its offset tables are the other way round
        "resi_connection": "1conv",
    }


# No published number (an NTIRE 2024 efficient-SR entry); bicubic scores 28.42 dB. Measured:
# Set5 32.42 dB (the official CRAFT x4 weights: 32.52 in the CRAFT README).
@pytest.mark.slow
def test_team34_file_beats_bicubic_on_set5(shared):
    model = load_model(shared / "weights/ntire/team34_craft.pth")
    psnr = evaluate_folder(model, shared / "data/test/Set5").mean("psnr")
    assert abs(psnr - 32.42) <= 0.01
