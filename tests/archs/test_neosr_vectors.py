"""RealPLKSR (pixel shuffle, DySample x2 / x3; LayerNorm) and MoSR's ``gps`` / ``dys``
upsamplers: seeded vectors of neosr's original code (the LayerNorm form: traiNNer-redux's)
in tests/archs/data/realplksr and tests/archs/data/mosr (see their README), each loaded by
the file alone and matched to 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from superres.weights import load_network

DATA = Path(__file__).parent / "data"
VECTORS = [  # (folder, file, network, parameters the file must be detected with)
    ("realplksr", "realplksr_ps_x4", "realplksr", {"scale": 4, "dim": 16, "n_blocks": 2, "dysample": False}),
    ("realplksr", "realplksr_dys_x2", "realplksr", {"scale": 2, "use_ea": False, "dysample": True}),
    ("realplksr", "realplksr_dys_x3", "realplksr", {"scale": 3, "kernel_size": 5, "dysample": True}),
    ("realplksr", "realplksr_ln_x2", "realplksr", {"scale": 2, "layer_norm": True, "dysample": False}),
    ("mosr", "mosr_gps_x2", "mosr", {"scale": 2, "dim": 16, "n_block": 2, "upsampler": "gps"}),
    ("mosr", "mosr_dys_x4", "mosr", {"scale": 4, "dim": 16, "upsampler": "dys"}),
    ("mosr", "mosr_dys_x3", "mosr", {"scale": 3, "dim": 8, "kernel_size": 5, "upsampler": "dys"}),
]


@pytest.mark.parametrize(("folder", "name", "arch", "expected"), VECTORS)
def test_neosr_vector(folder, name, arch, expected):
    path = DATA / folder / name
    network, found, params, _card = load_network(path.with_suffix(".safetensors"))
    assert found == arch
    assert {k: params[k] for k in expected} == expected
    x = torch.from_numpy(np.load(path.with_suffix(".input.npy")))
    want = np.load(path.with_suffix(".output.npy"))
    with torch.no_grad():
        got = network.eval()(x).numpy()
    assert got.shape == want.shape == (1, 3, 12 * params["scale"], 14 * params["scale"])
    assert float(np.abs(got - want).max()) <= 1e-4
