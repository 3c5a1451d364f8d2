"""Real-CUGAN: the test vector, x2/x3/x4 and pro detected by shape, odd and tiny sizes, tiles."""

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


def test_vector_realcugan_00():
    network = check_vector("RealCUGAN_00", "realcugan", scale=2, pro=False)
    assert network.size_multiple == 2


@pytest.mark.parametrize(
    "params",
    [
        {"scale": 3, "in_channels": 3, "out_channels": 3, "pro": False},
        {"scale": 4, "in_channels": 3, "out_channels": 3, "pro": True},
        {"scale": 2, "in_channels": 1, "out_channels": 1, "pro": True},
        {"scale": 2, "in_channels": 3, "out_channels": 3, "fast": True},
    ],
)
def test_detects_scale_channels_pro_and_fast(params):
    arch, found = detect_arch(build_network("realcugan", **params).state_dict())
    assert arch == "realcugan"
    assert found == {"pro": False, "fast": False, "num_feat": 64, **params}


def test_detect_never_raises_and_claims_only_its_own():
    check_detect_is_strict("realcugan", build_network("realcugan", scale=2).state_dict())


def test_refuses_a_layout_that_cannot_run():
    state = build_network("realcugan", scale=2).state_dict()
    state["unet2.conv_bottom.weight"] = torch.zeros(4, 64, 3, 3)  # UNet2 out != UNet1 in
    state["unet2.conv_bottom.bias"] = torch.zeros(4)
    assert detect_arch(state) is None


@pytest.mark.parametrize(
    ("scale", "size"),
    [
        (2, (13, 19)),
        pytest.param(2, (21, 23), marks=pytest.mark.slow),
        pytest.param(3, (5, 2), marks=pytest.mark.slow),
        pytest.param(4, (1, 1), marks=pytest.mark.slow),
        pytest.param(4, (20, 21), marks=pytest.mark.slow),
        pytest.param("fast", (42, 5), marks=pytest.mark.slow),  # 42: where the official fast fails
    ],
)
def test_any_size(scale, size):
    network = build_network("realcugan", **({"fast": True} if scale == "fast" else {"scale": scale})).eval()
    scale = network.scale
    with torch.no_grad():
        y = network(torch.rand(1, 3, *size))
    assert y.shape == (1, 3, scale * size[0], scale * size[1])
    assert torch.isfinite(y).all()


@pytest.mark.slow
def test_tiled_run_has_the_whole_run_shape():
    network = build_network("realcugan", scale=2).eval()
    x = torch.rand(1, 3, 23, 27)
    tiled = upscale_tensor(tiny_model(network), x, TileOptions(tile=16, tile_overlap=8))
    assert tiled.shape == (1, 3, 46, 54)
