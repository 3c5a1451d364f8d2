"""Real-CUGAN x3, x4, pro (x2 / x3 / x4) and fast: seeded vectors of bilibili's official code
(tests/archs/data/realcugan, see its README; x2 is ../shared/vectors/RealCUGAN_00), each loaded
by the file alone and matched to 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from superres.archs.realcugan_arch import convert, detect
from superres.weights import load_network

DATA = Path(__file__).parent / "data" / "realcugan"
VECTORS = [  # (file, scale, pro, fast)
    ("realcugan_up3x_w8", 3, False, False),
    ("realcugan_up4x_w8", 4, False, False),
    ("realcugan_pro_up3x_w8", 3, True, False),
    ("realcugan_pro_up2x_w8", 2, True, False),
    ("realcugan_pro_up4x_w8", 4, True, False),
    ("realcugan_fast_up2x_w8", 2, False, True),
]


@pytest.mark.parametrize(("name", "scale", "pro", "fast"), VECTORS)
def test_official_vector(name, scale, pro, fast):
    network, arch, params, _card = load_network(DATA / f"{name}.safetensors")
    assert arch == "realcugan"
    expected = {"scale": scale, "in_channels": 3, "out_channels": 3, "pro": pro, "fast": fast}
    assert params == {**expected, "num_feat": 8}
    x = torch.from_numpy(np.load(DATA / f"{name}.input.npy"))
    want = np.load(DATA / f"{name}.output.npy")
    with torch.no_grad():
        got = network.eval()(x).numpy()
    assert got.shape == want.shape == (1, 3, x.shape[2] * scale, x.shape[3] * scale)
    assert float(np.abs(got - want).max()) <= 1e-4


def test_any_pro_marker_loads():
    """The official loader only asks whether ``pro`` is there: a file holding it as a scalar
    (as these vectors do) or as any other tensor loads as the pro network."""
    state = load_file(DATA / "realcugan_pro_up3x_w8.safetensors")
    for marker in (torch.tensor(1), torch.ones(1), torch.tensor(True)):
        params = detect({**state, "pro": marker})
        assert params is not None and params["pro"]
        assert convert({**state, "pro": marker})["pro"].shape == (1,)
