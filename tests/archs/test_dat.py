"""DAT: detection of every released layout from its shapes, any input size, the released
DAT-light x4 file against its published numbers."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.archs.dat_arch import SpatialAttention
from superres.archs.rwin_blocks import offset_grid, relative_index, shift_mask
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.evaluate import EvalOptions, evaluate_folder
from superres.models import load_model
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import load_real

# Small instances of the released layouts: DAT / DAT-2 / DAT-S (pixelshuffle, 1conv) and
# DAT-light (pixelshuffledirect, 3conv); widths of 32 keep the interaction maps non-empty.
_SMALL = {
    "dat": {
        "scale": 2,
        "embed_dim": 32,
        "depth": [2, 5],
        "num_heads": [4, 2],
        "split_size": [2, 4],
        "expansion_factor": 4.0,
        "upsampler": "pixelshuffle",
        "resi_connection": "1conv",
    },
    "dat-s-x3": {
        "scale": 3,
        "embed_dim": 32,
        "depth": [3],
        "num_heads": [4],
        "split_size": [2, 8],
        "expansion_factor": 2.0,
        "upsampler": "pixelshuffle",
        "resi_connection": "1conv",
    },
    "dat-light": {
        "scale": 4,
        "embed_dim": 32,
        "depth": [4],
        "num_heads": [2],
        "split_size": [4, 2],
        "expansion_factor": 2.0,
        "upsampler": "pixelshuffledirect",
        "resi_connection": "3conv",
    },
}


def _released_layout(network: torch.nn.Module, resolution: int = 64) -> dict[str, torch.Tensor]:
    """The network's state dict with the buffers the official code stores: offset grids and
    position indices of every spatial block, masks of the shifted ones."""
    state = dict(network.state_dict())
    for name, module in network.named_modules():
        if not isinstance(module, SpatialAttention):
            continue
        for i, attn in enumerate(module.attns):
            state[f"{name}.attns.{i}.rpe_biases"] = offset_grid(*attn.window)
            state[f"{name}.attns.{i}.relative_position_index"] = relative_index(*attn.window)
            if module.shifted:
                shift = (attn.window[0] // 2, attn.window[1] // 2)
                state[f"{name}.attn_mask_{i}"] = shift_mask((resolution,) * 2, attn.window, shift)
    return state


@pytest.mark.parametrize("variant", sorted(_SMALL))
def test_detect_reads_every_hyper_parameter(variant):
    params = _SMALL[variant]
    state = _released_layout(build_network("dat", **params))
    arch, found = detect_arch(state)
    assert arch == "dat"
    expected = {**params, "in_channels": 3, "qkv_bias": True}
    if params["upsampler"] == "pixelshuffle":
        expected["num_feat"] = 64
    assert found == expected
    claims = [s.name for s in detection_order() if s.detect(state) is not None]
    assert claims == ["dat"]


def test_released_layout_loads_and_any_size_runs(tmp_path):
    params = {**_SMALL["dat"], "depth": [3, 1]}  # shifted blocks in both groups
    network = build_network("dat", **params).eval()
    path = tmp_path / "dat.pth"
    torch.save({"params": _released_layout(network)}, path)
    model = load_model(path, precision="fp32")
    assert model.arch == "dat" and model.network.size_multiple == 4
    x = torch.rand(1, 3, 13, 19)
    with torch.no_grad():
        want = network(x)
    got = model(x)
    assert got.shape == (1, 3, 26, 38)
    assert torch.allclose(got, want, atol=1e-5)
    tiled = upscale_tensor(model, x, TileOptions(tile=12, tile_overlap=2))
    assert tiled.shape == got.shape and torch.isfinite(tiled).all()


def test_detect_never_raises_on_a_mangled_state_dict():
    state = _released_layout(build_network("dat", **_SMALL["dat-light"]))
    for candidate in detection_order():
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect on dat with {label}: {type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_released_dat_light_x4_is_detected(shared):
    network, arch, params = load_real("dat/DAT_light_x4.pth")
    assert arch == "dat"
    assert params == {
        "scale": 4,
        "in_channels": 3,
        "embed_dim": 60,
        "depth": [18],
        "num_heads": [6],
        "split_size": [8, 32],
        "expansion_factor": 2.0,
        "qkv_bias": True,
        "resi_connection": "3conv",
        "upsampler": "pixelshuffledirect",
    }
    assert network.size_multiple == 32


# DAT-light x4, published (DAT supplementary material, table 2): Set5 32.57/0.8991, Set14
# 28.87/0.7879, BSD100 27.74/0.7441. BasicSR reads the gray bridge.png of Set14 as RGB, so
# Set14 is scored with gray_as_rgb. Measured with `superres eval`: Set5 32.5707/0.8991, Set14
# 28.8687/0.7879 (--gray-as-rgb; 28.7743 gray as itself), BSD100 below.
@pytest.mark.slow
@pytest.mark.parametrize(("set_name", "published"), [("Set5", 32.57)])
def test_released_dat_light_x4_meets_its_published_psnr(shared, set_name, published):
    """Set5 here; Set14 and BSD100 by benchmarks/published.py (too long for the suite)."""
    model = load_model(shared / "weights/dat/DAT_light_x4.pth")
    options = EvalOptions(gray_as_rgb=set_name == "Set14")
    result = evaluate_folder(model, shared / "data/test" / set_name, options)
    assert abs(result.mean("psnr") - published) <= 0.03
