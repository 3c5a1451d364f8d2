"""ESRT: seeded vectors of the official code (tests/archs/data/esrt, see its README), detection,
any input size, tiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from superres.archs import build_network, detection_order
from superres.archs.esrt_arch import detect
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import load_model
from superres.weights import detect_arch, load_network
from tests.archs.test_detect import _mutations

DATA = Path(__file__).parent / "data" / "esrt"
SMALL = {"n_feats": 16}


@pytest.mark.parametrize(("name", "scale"), [("esrt_f16_x4", 4), ("esrt_f16_x3", 3)])
def test_official_vector(name, scale, tmp_path):
    # The vector stores its weights as float8 (README); as float32 they are what the official
    # network ran with. Written to a plain .pth, the file is loaded by itself alone.
    weights = {k: v.float() for k, v in load_file(DATA / f"{name}.safetensors").items()}
    torch.save(weights, tmp_path / f"{name}.pth")
    network, arch, params, _card = load_network(tmp_path / f"{name}.pth")
    assert arch == "esrt"
    assert params == {"scale": scale, "in_channels": 3, "n_feats": 16, "n_blocks": 1, "reduction": 16}
    x = torch.from_numpy(np.load(DATA / f"{name}.input.npy"))
    want = np.load(DATA / f"{name}.output.npy")
    with torch.no_grad():
        got = network(x).numpy()
    assert got.shape == want.shape == (1, 3, 13 * scale, 15 * scale)
    assert float(np.abs(got - want).max()) <= 1e-4


def test_the_papers_configuration_has_its_751k_parameters():
    net = build_network("esrt", scale=4)
    assert sum(p.numel() for p in net.parameters()) == 751_767
    assert detect_arch(net.state_dict()) == (
        "esrt",
        {"scale": 4, "in_channels": 3, "n_feats": 32, "n_blocks": 1, "reduction": 16},
    )


def test_detect_is_strict_and_never_raises():
    state = build_network("esrt", scale=2, **SMALL).state_dict()
    assert detect(state) is not None
    assert [s.name for s in detection_order() if s.detect(state) is not None] == ["esrt"]
    assert detect({k: v.to(torch.int32) for k, v in state.items()}) is None
    for label, mangled in _mutations(state):
        try:
            detect(mangled)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"esrt.detect with {label}: {type(exc).__name__}: {exc}")


def test_any_size_and_tiles(tmp_path):
    path = tmp_path / "esrt_x2.pth"
    torch.save(build_network("esrt", scale=2, **SMALL).state_dict(), path)
    model = load_model(path, scale=2)
    for h, w in [(13, 19), (1, 1), (2, 3)]:  # fewer than 4 tokens: the official code fails there
        assert model(torch.rand(1, 3, h, w)).shape == (1, 3, 2 * h, 2 * w)
    x = torch.rand(1, 3, 13, 19)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=10, tile_overlap=4))
    assert whole.shape == tiled.shape == (1, 3, 26, 38)
    assert float((whole - tiled).abs().mean()) < 0.05
