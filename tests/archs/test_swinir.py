"""SwinIR: the test vectors, every released upsampler by round trip, detection, any size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from superres.archs import detection_order
from superres.archs.swin_blocks import is_buffer, shift_mask
from superres.archs.swinir_arch import SwinIR
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import load_model
from superres.weights import detect_arch, load_network, save_network
from tests.archs.test_detect import _mutations
from tests.archs.vectors import VECTORS, vector_entry

SMALL = {"embed_dim": 12, "depths": [2, 1], "num_heads": [2, 3], "window_size": 4, "mlp_ratio": 2.0}


def scale_paths_as_training(
    network: torch.nn.Module, drop_path_rate: float = 0.1, dropped: tuple[tuple[int, int], ...] = ()
) -> None:
    """Make every block's residual branches (attention, MLP) compute what the official
    networks compute in training mode: stochastic depth with rate p rising linearly from 0
    to ``drop_path_rate`` over the blocks scales each kept branch by 1 / (1 - p) and zeroes
    the ``dropped`` (block index, branch index) ones. The test vectors of these networks were
    made with the network left in training mode; inference never calls this."""
    blocks = [m for m in network.modules() if hasattr(m, "branch_scales")]
    rates = torch.linspace(0, drop_path_rate, len(blocks)).tolist() if blocks else []
    for i, (block, rate) in enumerate(zip(blocks, rates, strict=True)):
        kept = 1.0 / (1.0 - rate)
        block.branch_scales = tuple(0.0 if (i, j) in dropped else kept for j in range(2))


def released_layout(network: torch.nn.Module, window: int) -> dict[str, torch.Tensor]:
    """The network's state dict as the official code saves it: with each attention's
    relative-position index (Swin2SR: coordinate table) and each shifted block's mask (for
    an 8-window training patch)."""
    state = dict(network.state_dict())
    for name, module in network.named_modules():
        if hasattr(module, "relative_position_index") and name.endswith("attn"):
            state[f"{name}.relative_position_index"] = module.relative_position_index.clone()
            if hasattr(module, "relative_coords_table"):
                state[f"{name}.relative_coords_table"] = module.relative_coords_table.clone()
            block = name.rsplit(".", 1)[0]
            if int(block.rsplit(".", 1)[-1]) % 2:
                state[f"{block}.attn_mask"] = shift_mask(8 * window, 8 * window, window, window // 2)
    return state


def check_training_mode_vector(name: str, arch: str, dropped: tuple = (), **expected: object) -> None:
    """Vector ``name`` loads by its file alone as ``arch`` with ``expected`` parameters and
    reproduces the official output within 1e-4. The vectors of these networks were made with
    the network left in training mode: stochastic depth (rate 0.1) scaled each kept residual
    branch by 1 / (1 - p) and zeroed the ``dropped`` ones (block, branch), drawn at random;
    :func:`scale_paths_as_training` does the same. In eval mode (all inference) the output
    differs from the vector (by 4e-3 for SwinIR_50)."""
    entry = vector_entry(name)
    network, found, params, _ = load_network(VECTORS / entry["file"])
    assert found == arch, f"{name} detected as {found}({params})"
    for key, value in expected.items():
        assert params.get(key) == value, f"{name}: {key}={params.get(key)!r}, expected {value!r}"
    assert network.scale == entry["scale"]
    assert (network.in_channels, network.out_channels) == (entry["in_channels"], entry["out_channels"])
    x = torch.from_numpy(np.load(VECTORS / f"{name}.input.npy"))
    want = torch.from_numpy(np.load(VECTORS / f"{name}.output.npy"))
    scale_paths_as_training(network, dropped=dropped)
    with torch.no_grad():
        error = float((network(x) - want).abs().max())
    assert error <= 1e-4, f"{name}: max abs error {error:.3g}"


def check_round_trip(tmp_path: Path, network: torch.nn.Module, arch: str, params: dict, layout=None) -> None:
    """A file in the released layout (``layout(network, window)``, by default
    :func:`released_layout`) is recognised as ``arch`` with ``params``, loads strictly and
    runs as the original; our own format round-trips too."""
    network.eval()
    window = params["window_size"]
    path = tmp_path / "third_party.pth"
    torch.save({"params": (layout or released_layout)(network, window)}, path)
    loaded, found, detected, _ = load_network(path)
    assert (found, detected) == (arch, params)
    x = torch.rand(1, params.get("in_channels", 3), 2 * window + 3, window + 1)
    with torch.no_grad():
        want = network(x)
        assert torch.allclose(loaded(x), want, atol=1e-6)
    ours = save_network(tmp_path / "ours.safetensors", network, arch, params)
    again, found, _, _ = load_network(ours)
    with torch.no_grad():
        assert found == arch and torch.allclose(again(x), want, atol=1e-6)


def check_detect_is_strict(state: dict[str, torch.Tensor], arch: str) -> None:
    """Exactly ``arch`` claims the dict; no detect raises on mangled versions of it, and
    ``arch`` claims none whose tensors no longer fit."""
    claims = [s.name for s in detection_order() if s.detect(state) is not None]
    assert claims == [arch]
    (own,) = [s for s in detection_order() if s.name == arch]
    for label, mangled in _mutations(state):
        for candidate in detection_order():
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect with {label}: {type(exc).__name__}: {exc}")
        if label.startswith("no ") and not is_buffer(label.removeprefix("no ")):
            assert own.detect(mangled) is None, label


def check_any_size(network: torch.nn.Module, tmp_path: Path, arch: str, params: dict) -> None:
    """An odd-sized input gives scale x its size, whole and through the tiling engine."""
    s = network.scale
    x = torch.rand(1, network.in_channels, 13, 19)
    with torch.no_grad():
        assert network.eval()(x).shape == (1, network.out_channels, 13 * s, 19 * s)
    assert network.size_multiple == params["window_size"]
    model = load_model(save_network(tmp_path / "any.safetensors", network, arch, params))
    tiled = upscale_tensor(
        model, torch.rand(1, network.in_channels, 21, 30), TileOptions(tile=12, tile_overlap=4)
    )
    assert tiled.shape == (1, network.out_channels, 21 * s, 30 * s)


@pytest.mark.parametrize(
    ("name", "upsampler"), [("SwinIR_50", "pixelshuffledirect"), ("SwinIR_52", "nearest+conv")]
)
def test_vectors(name, upsampler):
    check_training_mode_vector(name, "swinir", window_size=8, upsampler=upsampler, embed_dim=24)


# No vector holds the classical 'pixelshuffle' head (nor x1, 3conv, x3, gray): these check
# that a file in the released layout is recognised with its parameters and runs as built.
CASES = {
    "pixelshuffle x2": {"scale": 2, "upsampler": "pixelshuffle"},
    "pixelshuffle x3 3conv": {"scale": 3, "upsampler": "pixelshuffle", "resi_connection": "3conv"},
    "pixelshuffle x4 gray": {"scale": 4, "in_channels": 1, "upsampler": "pixelshuffle", "num_feat": 16},
    "nearest+conv x2": {"scale": 2, "upsampler": "nearest+conv", "num_feat": 8},
    "denoise x1": {"scale": 1, "upsampler": ""},
    "jpeg x1 window 7": {"scale": 1, "upsampler": "", "window_size": 7, "img_range": 255.0},
}


def _params(case: dict) -> dict:
    params = {
        "scale": 2,
        "in_channels": 3,
        **SMALL,
        "resi_connection": "1conv",
        "upsampler": "pixelshuffle",
        "num_feat": 64,
        "img_range": 1.0,
    }
    return {**params, **case}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=() if c == "pixelshuffle x2" else pytest.mark.slow) for c in sorted(CASES)]
)
def test_released_layouts_round_trip(tmp_path, case):
    params = _params(CASES[case])
    torch.manual_seed(0)
    check_round_trip(tmp_path, SwinIR(**params), "swinir", params)


def test_detect_is_strict_and_never_raises():
    torch.manual_seed(0)
    network = SwinIR(**_params({"upsampler": "pixelshuffle", "num_feat": 8, "depths": [2], "num_heads": [2]}))
    check_detect_is_strict(released_layout(network, SMALL["window_size"]), "swinir")
    assert detect_arch(network.state_dict())[0] == "swinir"


def test_any_size_whole_and_tiled(tmp_path):
    params = _params({"upsampler": "pixelshuffle", "num_feat": 8})
    check_any_size(SwinIR(**params), tmp_path, "swinir", params)
