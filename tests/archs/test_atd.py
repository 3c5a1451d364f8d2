"""ATD: the test vector, detection of every released layout, any input size."""

from __future__ import annotations

import pytest
import torch

from superres.archs.atd_arch import ATD, detect
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import check_vector

SMALL = {
    "scale": 2, "embed_dim": 8, "depths": (2,), "num_heads": (2,), "window_size": 4,
    "num_tokens": 4, "reducted_dim": 2, "convffn_kernel_size": 3, "mlp_ratio": 2,
}  # fmt: skip


def test_vector_atd_50():
    # the vector's INDEX entry names category_size 64, but its output is the one of 256 (the
    # released ATD's), which detection assumes: see atd_arch.detect
    check_vector(
        "ATD_50", "atd", scale=4, embed_dim=24, depths=(2, 2), num_heads=(2, 2), window_size=8,
        num_tokens=16, reducted_dim=4, upsampler="pixelshuffledirect", category_size=256,
    )  # fmt: skip


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"scale": 3, "upsampler": "pixelshuffle", "resi_connection": "3conv"},
        {"scale": 4, "upsampler": "pixelshuffle", "in_channels": 1},
    ],
)
def test_detect_recovers_every_shape_parameter(variant):
    params = {**SMALL, **variant}
    found = detect(ATD(**params).state_dict())
    assert found is not None
    assert {k: found[k] for k in params} == params


def test_released_category_sizes():
    light = {"embed_dim": 48, "num_heads": (4,), "depths": (1,), "window_size": 4}
    assert detect(ATD(**{**SMALL, **light}).state_dict())["category_size"] == 128
    full = {**light, "upsampler": "pixelshuffle"}
    assert detect(ATD(**{**SMALL, **full}).state_dict())["category_size"] == 256


def test_detect_never_raises_and_claims_its_own():
    state = ATD(**SMALL).state_dict()
    assert detect_arch(state)[0] == "atd"
    assert detect({k: v.to(torch.int32) for k, v in state.items()}) is None
    for label, mangled in _mutations(state):
        try:
            detect(mangled)
        except Exception as exc:
            pytest.fail(f"detect with {label}: {type(exc).__name__}: {exc}")


def test_any_size_whole_and_tiled():
    torch.manual_seed(0)
    net = ATD(**SMALL).eval()
    x = torch.rand(1, 3, 13, 19)
    with torch.no_grad():
        assert net(x).shape == (1, 3, 26, 38)
    model = SRModel(net, "atd", SMALL, "small", torch.device("cpu"))
    tiled = upscale_tensor(model, x, TileOptions(tile=12, tile_overlap=4))
    assert tiled.shape == (1, 3, 26, 38)
    assert torch.isfinite(tiled).all()


@pytest.mark.parametrize(
    "released",
    [
        # ATD and ATD-light (options/test/*.yml): x2, x3, x4 each
        {"embed_dim": 210, "depths": (6,) * 6, "num_heads": (6,) * 6, "window_size": 16, "num_tokens": 128,
         "reducted_dim": 20, "convffn_kernel_size": 5, "mlp_ratio": 2, "upsampler": "pixelshuffle"},
        {"embed_dim": 48, "depths": (6,) * 4, "num_heads": (4,) * 4, "window_size": 16, "num_tokens": 64,
         "reducted_dim": 8, "convffn_kernel_size": 7, "mlp_ratio": 1, "upsampler": "pixelshuffledirect"},
    ],
)  # fmt: skip
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_released_layouts(released, scale):
    params = {"scale": scale, **released}
    with torch.device("meta"):
        state = ATD(**params).state_dict()
    state["relative_position_index_SA"] = torch.zeros(256, 256, dtype=torch.int64)
    found = detect(state)
    assert {k: found[k] for k in params} == params
    assert found["category_size"] == (256 if released["embed_dim"] == 210 else 128)
