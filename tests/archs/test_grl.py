"""GRL: vectors of the official code (tests/archs/data/grl, see its README), detection of the
released layouts (with and without their stored tables), the shared vector's layout, any size."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from superres.archs.grl_arch import GRL, convert, detect, tables
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel
from superres.weights import detect_arch, load_network
from tests.archs.test_detect import _mutations
from tests.archs.test_swinir import check_training_mode_vector
from tests.archs.vectors import VECTORS

DATA = Path(__file__).parent / "data" / "grl"
OFFICIAL = {  # vector -> parameters the file alone must give
    "grl_t_w8s16": {
        "scale": 2, "in_channels": 3, "embed_dim": 8, "depths": (4,), "num_heads_window": (2,),
        "num_heads_stripe": (2,), "window_size": 8, "stripe_size": (16, 16), "anchor_window_down_factor": 4,
        "mlp_ratio": 2, "local_connection": False, "conv_type": "1conv", "upsampler": "pixelshuffledirect",
    },
    "grl_b_w4s4x8": {
        "scale": 2, "in_channels": 1, "embed_dim": 18, "depths": (1,), "num_heads_window": (1,),
        "num_heads_stripe": (1,), "window_size": 4, "stripe_size": (4, 8), "anchor_window_down_factor": 2,
        "mlp_ratio": 2, "local_connection": True, "conv_type": "3conv", "upsampler": "pixelshuffledirect",
    },
}  # fmt: skip

SMALL = {
    "scale": 2, "embed_dim": 16, "depths": (2, 1), "num_heads_window": (2, 1), "num_heads_stripe": (1, 2),
    "window_size": 4, "stripe_size": (8, 8), "anchor_window_down_factor": 2, "mlp_ratio": 2,
}  # fmt: skip


@functools.cache
def _stored(window: int, stripe: tuple[int, int], down: int) -> dict:
    return tables((64, 64), window, stripe, down)


def _with_buffers(state: dict, params: dict) -> dict:
    """``state`` plus the tables, indices and masks the official model stores (at 64 x 64)."""
    stored = _stored(params["window_size"], params["stripe_size"], params["anchor_window_down_factor"])
    return {**state, **stored}


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {
            "scale": 3,
            "embed_dim": 36,
            "upsampler": "pixelshuffle",
            "conv_type": "3conv",
            "local_connection": True,
        },
        {"scale": 4, "upsampler": "nearest+conv", "in_channels": 1, "stripe_size": (8, 16)},
    ],
)
def test_detect_recovers_every_parameter_from_a_file_with_its_tables(variant):
    params = {**SMALL, **variant}
    state = _with_buffers(GRL(**params).state_dict(), params)
    found = detect(state)
    assert found is not None
    assert {k: found[k] for k in params} == params
    # Lightning checkpoints prefix the keys; the tables are dropped either way
    prefixed = {f"model.{k}": v for k, v in state.items()}
    assert detect(prefixed) == found
    assert set(convert(prefixed)) == set(GRL(**params).state_dict())


def test_without_tables_the_released_window_sizes_are_assumed():
    found = detect(GRL(**SMALL).state_dict())
    assert (found["window_size"], found["stripe_size"], found["anchor_window_down_factor"]) == (
        32,
        (64, 64),
        4,
    )


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_vector(name):
    network, arch, params, _card = load_network(DATA / f"{name}.safetensors")
    assert arch == "grl"
    assert {k: params[k] for k in OFFICIAL[name]} == OFFICIAL[name]
    x = torch.from_numpy(np.load(DATA / f"{name}.input.npy"))
    want = np.load(DATA / f"{name}.output.npy")
    with torch.no_grad():
        got = network.eval()(x).numpy()
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= 1e-4


def test_vector_layout_is_detected_and_loads_strictly():
    state = load_file(str(VECTORS / "GRL_24.safetensors"))
    arch, params = detect_arch(state)
    assert arch == "grl"
    expected = {
        "scale": 4, "embed_dim": 32, "depths": (4, 4, 4, 4), "num_heads_window": (2, 2, 2, 2),
        "num_heads_stripe": (2, 2, 2, 2), "mlp_ratio": 2, "conv_type": "1conv",
        "upsampler": "pixelshuffledirect", "local_connection": False,
    }  # fmt: skip
    assert {k: params[k] for k in expected} == expected
    GRL(**params).load_state_dict(convert(state), strict=True)


def test_detect_never_raises_and_claims_its_own():
    state = _with_buffers(GRL(**SMALL).state_dict(), SMALL)
    assert detect_arch(state)[0] == "grl"
    assert detect({k: v.to(torch.int32) for k, v in state.items()}) is None
    for label, mangled in _mutations(state):
        try:
            detect(mangled)
        except Exception as exc:
            pytest.fail(f"detect with {label}: {type(exc).__name__}: {exc}")


def test_any_size_whole_and_tiled():
    torch.manual_seed(0)
    net = GRL(**SMALL).eval()
    assert net.size_multiple == 8
    with torch.no_grad():
        assert net(torch.rand(1, 3, 13, 19)).shape == (1, 3, 26, 38)
        assert net(torch.rand(1, 3, 3, 5)).shape == (1, 3, 6, 10)  # too small to reflect: zeros
    model = SRModel(net, "grl", SMALL, "small", torch.device("cpu"))
    tiled = upscale_tensor(model, torch.rand(1, 3, 13, 19), TileOptions(tile=16, tile_overlap=4))
    assert tiled.shape == (1, 3, 26, 38)
    assert torch.isfinite(tiled).all()


@pytest.mark.slow
def test_vector_grl_24_output():
    """GRL_24 was made in training mode, as SwinIR's and HAT's: stochastic depth 0.1 scaled the
    kept branches and dropped block 8's attention branch (found by trying each branch; 1e-6
    max abs then, 0.22 in eval mode)."""
    check_training_mode_vector("GRL_24", "grl", dropped=((8, 0),), scale=4, embed_dim=32)


@pytest.mark.parametrize(
    "released",
    [
        # GRL-T, GRL-S and GRL-B for bicubic x4 SR (config/model/grl/*.yaml + experiment/sr)
        {"embed_dim": 64, "depths": (4,) * 4, "heads": 2, "upsampler": "pixelshuffledirect", "local": False},
        {"embed_dim": 128, "depths": (4,) * 4, "heads": 2, "upsampler": "pixelshuffle", "local": False},
        {
            "embed_dim": 180,
            "depths": (4, 4, 8, 8, 8, 4, 4),
            "heads": 3,
            "upsampler": "pixelshuffle",
            "local": True,
        },
    ],
)
def test_released_layouts(released):
    n = len(released["depths"])
    params = {
        "scale": 4, "embed_dim": released["embed_dim"], "depths": released["depths"],
        "num_heads_window": (released["heads"],) * n, "num_heads_stripe": (released["heads"],) * n,
        "window_size": 32, "stripe_size": (64, 64), "anchor_window_down_factor": 4, "mlp_ratio": 2,
        "local_connection": released["local"], "upsampler": released["upsampler"],
    }  # fmt: skip
    with torch.device("meta"):
        state = GRL(**params).state_dict()
    found = detect(_with_buffers(state, params))
    assert {k: found[k] for k in params} == params
    assert detect(state) == found  # the same without the stored tables
