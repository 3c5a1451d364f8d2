"""Swift-SRGAN: test vectors, the released x2/x4 generators against spandrel's reference
outputs, detection and any-size inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.archs import build_network
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel
from superres.weights import detect_arch, load_network
from tests.archs.test_detect import _mutations
from tests.archs.vectors import VECTORS, load_real, max_level_difference, reference_output, vector_entry

_SMALL = {"scale": 4, "num_channels": 8, "num_blocks": 2}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("SwiftSRGAN_02", {"num_channels": 32, "num_blocks": 16}),
        ("SwiftSRGAN_03", {"num_channels": 64, "num_blocks": 7}),
    ],
)
def test_vector(name, params):
    """The vectors' outputs were made with the network left in training mode (batch norm over
    the batch's own statistics; their running statistics are the initial 0 and 1), so the
    network runs in that mode here; eval mode is what the real files below check."""
    network, arch, found, _card = load_network(VECTORS / vector_entry(name)["file"])
    assert arch == "swiftsrgan" and found == {"scale": 4, "in_channels": 3, **params}
    x = torch.from_numpy(np.load(VECTORS / f"{name}.input.npy"))
    want = np.load(VECTORS / f"{name}.output.npy")
    with torch.no_grad():
        got = network.train()(x).numpy()
    assert float(np.abs(got - want).max()) <= 1e-4


def _run_uint8(network: torch.nn.Module, pixels: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = network.eval()(x).clamp(0, 1)
    return (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 4])
def test_real_file_matches_reference(scale):
    network, arch, params = load_real(f"swiftsrgan/swift_srgan_{scale}x.pth.tar")
    assert arch == "swiftsrgan"
    assert params == {"scale": scale, "in_channels": 3, "num_channels": 64, "num_blocks": 16}
    for size in (16, 32, 64):
        source, want = reference_output(f"swift_srgan_{scale}x.png", size)
        assert max_level_difference(_run_uint8(network, source), want) <= 1


def test_detect_claims_its_own_and_never_raises():
    state = build_network("swiftsrgan", **_SMALL).state_dict()
    assert detect_arch(state) == ("swiftsrgan", {"in_channels": 3, **_SMALL})
    from superres.archs.swiftsrgan_arch import detect

    for _label, mangled in _mutations(state):
        detect(mangled)
    assert detect({k: v.to(torch.int32) for k, v in state.items()}) is None


def test_any_size_whole_and_tiled():
    network = build_network("swiftsrgan", **_SMALL).eval()
    model = SRModel(network, "swiftsrgan", _SMALL, "small", torch.device("cpu"))
    x = torch.rand(1, 3, 13, 19)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=8, tile_overlap=4))
    assert whole.shape == tiled.shape == (1, 3, 52, 76)
    assert float((whole - tiled).abs().max()) < 0.01  # seams blend; the receptive field exceeds the overlap
