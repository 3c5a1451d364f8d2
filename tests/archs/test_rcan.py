"""RCAN: the shared test vectors, detection (strict against EDSR), any input size, tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.archs import build_network
from superres.archs.edsr_arch import detect as edsr_detect
from superres.archs.rcan_arch import detect
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import load_model
from superres.weights import detect_arch, load_network
from tests.archs.test_detect import _mutations
from tests.archs.vectors import VECTORS, vector_entry

SMALL = {"n_feats": 8, "n_resgroups": 2, "n_resblocks": 1, "reduction": 4}


@pytest.mark.parametrize(("name", "scale", "groups", "blocks"), [("RCAN_50", 4, 2, 2), ("RCAN_51", 2, 1, 3)])
def test_vector(name, scale, groups, blocks):
    # Not tests.archs.vectors.check_vector: these two inputs were saved AFTER the reference
    # run, whose forward multiplies its input by rgb_range (255) in place, so the .input.npy
    # holds 255 x the input the output belongs to (its values run to 254.9). Dividing by 255
    # recovers it; our network then matches to 1e-7. Everything else is as check_vector does.
    entry = vector_entry(name)
    network, arch, params, _card = load_network(VECTORS / entry["file"])
    assert arch == "rcan"
    assert (params["scale"], params["n_resgroups"], params["n_resblocks"]) == (scale, groups, blocks)
    assert (params["n_feats"], params["reduction"], params["rgb_range"]) == (32, 16, 255.0)
    assert network.scale == entry["scale"] and network.in_channels == entry["in_channels"] == 3
    x = torch.from_numpy(np.load(VECTORS / f"{name}.input.npy"))
    assert float(x.max()) > 2  # the in-place scaling described above; fix here if re-made
    want = np.load(VECTORS / f"{name}.output.npy")
    with torch.no_grad():
        got = network(x / 255).numpy()
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= 1e-4


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_detects_every_scale_and_its_own_parameters(scale):
    net = build_network("rcan", scale=scale, **SMALL)
    found = detect_arch(net.state_dict())
    assert found is not None and found[0] == "rcan"
    assert found[1]["scale"] == scale
    assert {k: found[1][k] for k in SMALL} == SMALL


def test_detect_never_raises_on_mangled_dicts():
    state = build_network("rcan", scale=2, **SMALL).state_dict()
    assert detect(state) is not None
    for label, mangled in _mutations(state):
        try:
            detect(mangled)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"rcan.detect with {label}: {type(exc).__name__}: {exc}")
    assert detect({k: v.to(torch.int32) for k, v in state.items()}) is None


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rcan_and_edsr_never_claim_each_other(scale):
    rcan = build_network("rcan", scale=scale, **SMALL).state_dict()
    edsr = build_network("edsr", scale=scale, num_feat=8, num_block=2).state_dict()
    assert edsr_detect(rcan) is None and detect(edsr) is None
    assert detect_arch(rcan)[0] == "rcan" and detect_arch(edsr)[0] == "edsr"


def test_files_without_mean_shift_work_on_0_1(tmp_path):
    # Some RCAN files (spandrel's norm=False) hold no sub_mean/add_mean: no 255 scaling.
    net = build_network("rcan", scale=2, norm=False, **SMALL)
    torch.save(net.state_dict(), tmp_path / "plain.pth")
    loaded, arch, params, _ = load_network(tmp_path / "plain.pth")
    assert arch == "rcan" and params["norm"] is False and loaded.rgb_range == 1.0
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net.eval()(x), atol=1e-6)


def test_mean_shift_in_0_1_units_means_rgb_range_1():
    state = build_network("rcan", scale=2, rgb_range=1.0, **SMALL).state_dict()
    assert detect(state)["rgb_range"] == 1.0


def test_any_size_and_tiles(tmp_path):
    path = tmp_path / "rcan_x3.pth"
    torch.save(build_network("rcan", scale=3, **SMALL).state_dict(), path)
    model = load_model(path, scale=3)
    x = torch.rand(1, 3, 13, 19)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=10, tile_overlap=4))
    assert whole.shape == tiled.shape == (1, 3, 39, 57)
    # Channel attention pools over each tile, so tiles are close to the whole run, not equal.
    assert float((whole - tiled).abs().mean()) < 0.05
