"""MoSR: the test vector, its three upsamplers detected by shape, odd sizes and tiles."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.weights import detect_arch
from tests.archs.test_plksr import check_detect_is_strict
from tests.archs.vectors import check_vector
from tests.engine import tiny_model

_SMALL = {"scale": 2, "dim": 8, "n_block": 1, "kernel_size": 3}


def test_vector_mosr_50():
    check_vector("MoSR_50", "mosr", scale=4, dim=32, n_block=4, upsampler="ps", hidden=48)


@pytest.mark.parametrize(
    "variant",
    [
        {"upsampler": "gps", "scale": 3},
        {"upsampler": "dys", "scale": 4},
        {"upsampler": "dys", "in_channels": 1, "out_channels": 1},
        {"hidden": 16, "conv_channels": 4, "kernel_size": 5},
    ],
)
def test_detects_its_variants(variant):
    params = {**_SMALL, **variant}
    state = build_network("mosr", **params).state_dict()
    if params.get("upsampler") == "dys":  # released files store DySample's base positions
        state["upsampler.init_pos"] = torch.zeros(1, 2 * 4 * params["scale"] ** 2, 1, 1)
    arch, found = detect_arch(state)
    assert arch == "mosr"
    assert {k: found[k] for k in params} == params


def test_detect_never_raises_and_claims_only_its_own():
    check_detect_is_strict("mosr", build_network("mosr", **_SMALL).state_dict())


@pytest.mark.parametrize("upsampler", ["ps", "dys"])
def test_odd_size_whole_and_tiled(upsampler):
    network = build_network("mosr", **_SMALL, upsampler=upsampler).eval()
    x = torch.rand(1, 3, 13, 19)
    with torch.no_grad():
        whole = network(x)
    assert whole.shape == (1, 3, 26, 38)
    tiled = upscale_tensor(tiny_model(network), x, TileOptions(tile=16, tile_overlap=14))
    assert (tiled - whole).abs().max().item() <= 1 / 255
