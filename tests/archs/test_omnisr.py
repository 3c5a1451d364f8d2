"""Omni-SR: test vectors of the official network (3 and 1 channels), detection and any
input size (padding to the window, tiled too)."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.archs.omnisr_arch import convert, relative_position_index
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import check_vector

SMALL = {
    "scale": 2,
    "in_channels": 3,
    "num_feat": 16,
    "res_num": 2,
    "block_num": 1,
    "window_size": 4,
    "pe": True,
    "bias": True,
}


def test_omnisr_vectors():
    check_vector("OmniSR_05", "omnisr", scale=4, num_feat=32, window_size=8, pe=True)
    check_vector("OmniSR_01", "omnisr", scale=4, in_channels=1, num_feat=64, window_size=8)


def test_relative_position_index():
    index = relative_position_index(2)
    assert index.tolist() == [[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]]


def test_files_with_buffers_or_profiler_counters_load():
    state = build_network("omnisr", **SMALL).state_dict()
    extra = {
        "residual_layer.0.residual_layer.0.layer.2.fn.rel_pos_indices": relative_position_index(4).float(),
        "total_ops": torch.zeros(1, dtype=torch.float64),
        "input.total_params": torch.zeros(1, dtype=torch.float64),
    }
    assert convert({**state, **extra}).keys() == state.keys()


@pytest.mark.parametrize("pe", [True, False])
def test_detect_claims_its_own_and_never_raises(pe):
    params = {**SMALL, "pe": pe, "window_size": 4 if pe else 8}
    state = build_network("omnisr", **params).state_dict()
    assert detect_arch(state) == ("omnisr", params)
    if not pe:
        return
    for candidate in detection_order():
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect on omnisr with {label}: {exc!r}")


def test_any_size_whole_and_tiled():
    torch.manual_seed(0)
    params = {**SMALL, "res_num": 1}
    network = build_network("omnisr", **params).eval()
    assert network.size_multiple == 4
    with torch.no_grad():
        for size in [(13, 19), (5, 3)]:
            assert network(torch.rand(1, 3, *size)).shape == (1, 3, 2 * size[0], 2 * size[1])
    model = SRModel(network, "omnisr", params, "omnisr", torch.device("cpu"))
    y = upscale_tensor(model, torch.rand(1, 3, 21, 23), TileOptions(tile=16, tile_overlap=4))
    assert y.shape == (1, 3, 42, 46)
    assert torch.isfinite(y).all()
