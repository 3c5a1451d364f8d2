"""CARN and CARN-M: seeded vectors of the official code (tests/archs/data/carn, see its README),
the multi-scale file's branch chosen by the scale asked for, detection, any size, tiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from superres.archs import build_network
from superres.archs.carn_arch import detect_carn, detect_carn_m
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.errors import SuperresError
from superres.models import load_model
from superres.weights import detect_arch, load_network, save_network
from tests.archs.test_detect import _mutations

DATA = Path(__file__).parent / "data" / "carn"
VECTORS = [  # (file, network, width, group, held scales)
    ("carn_w8", "carn", 8, 1, [2, 3, 4]),
    ("carn_m_w16", "carn_m", 16, 4, [2, 3, 4]),
    ("carn_m_w8_x3", "carn_m", 8, 4, None),
]


@pytest.mark.parametrize(("name", "arch", "width", "group", "scales"), VECTORS)
def test_official_vector_at_every_held_scale(name, arch, width, group, scales):
    x = torch.from_numpy(np.load(DATA / f"{name}.input.npy"))
    _net, found, params, _card = load_network(DATA / f"{name}.pth")
    assert found == arch
    assert (params["num_feat"], params["group"], params["scales"]) == (width, group, scales)
    assert params["scale"] == (4 if scales else 3)  # multi-scale files default to x4
    for scale in scales or [3]:
        model = load_model(DATA / f"{name}.pth", scale=scale)
        assert model.arch == arch and model.scale == scale
        want = np.load(DATA / f"{name}.x{scale}.npy")
        got = model(x).numpy()
        assert got.shape == want.shape == (1, 3, 12 * scale, 14 * scale)
        assert float(np.abs(got - want).max()) <= 1e-4


def test_a_scale_the_file_does_not_hold_is_refused():
    with pytest.raises(SuperresError, match="x4, but --scale 8"):
        load_model(DATA / "carn_w8.pth", scale=8)
    with pytest.raises(SuperresError, match="x3, but --scale 2"):
        load_model(DATA / "carn_m_w8_x3.pth", scale=2)


@pytest.mark.parametrize(
    ("arch", "own", "other"), [("carn", detect_carn, detect_carn_m), ("carn_m", detect_carn_m, detect_carn)]
)
def test_detect_is_strict_and_never_raises(arch, own, other):
    state = build_network(arch, scale=2, num_feat=8).state_dict()
    assert detect_arch(state)[0] == arch and other(state) is None
    assert own({k: v.to(torch.int32) for k, v in state.items()}) is None
    for label, mangled in _mutations(state):
        for detect in (own, other):
            try:
                detect(mangled)
            except Exception as exc:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{detect.__name__} with {label}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("arch", ["carn", "carn_m"])
def test_single_scale_layouts_x2_to_x8(arch):
    for scale in (2, 3, 4, 8):
        state = build_network(arch, scale=scale, num_feat=8, scales=None).state_dict()
        assert "upsample.up.body.0.weight" in state
        found = detect_arch(state)
        assert found[0] == arch and found[1]["scale"] == scale and found[1]["scales"] is None


def test_superres_file_keeps_every_branch(tmp_path):
    net = build_network("carn_m", scale=4, num_feat=8)
    path = save_network(
        tmp_path / "m.safetensors", net, "carn_m", {"scale": 4, "num_feat": 8, "scales": [2, 3, 4]}
    )
    assert load_model(path, scale=3).scale == 3 and load_model(path).scale == 4


def test_any_size_and_tiles():
    model = load_model(DATA / "carn_w8.pth", scale=3)
    x = torch.rand(1, 3, 13, 19)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=10, tile_overlap=4))
    assert whole.shape == tiled.shape == (1, 3, 39, 57)
    assert float((whole - tiled).abs().mean()) < 0.05
