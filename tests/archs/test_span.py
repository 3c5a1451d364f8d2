"""SPAN: the test vector of the official network (training-form checkpoint, folded as its eval
mode does), the already re-parameterised NTIRE 2024 file team38_span_ch28_slim.pth,
detection and any input size."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.archs.span_arch import _CONV3XC, convert
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.models import SRModel
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import check_vector, load_real
from tests.conftest import SHARED

SMALL = {"scale": 2, "in_channels": 3, "feature_channels": 4, "norm": True}


def _training_form(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with every Conv3XC in the released training form: random branches
    (gain 2) next to a stale eval_conv."""
    out = dict(state)
    for prefix in _CONV3XC:
        c_out, c_in = state[f"{prefix}.eval_conv.weight"].shape[:2]
        shapes = {"sk": (c_out, c_in, 1, 1), "conv.0": (2 * c_in, c_in, 1, 1)}
        shapes |= {"conv.1": (2 * c_out, 2 * c_in, 3, 3), "conv.2": (c_out, 2 * c_out, 1, 1)}
        for name, shape in shapes.items():
            out[f"{prefix}.{name}.weight"] = torch.randn(shape) * 0.1
            out[f"{prefix}.{name}.bias"] = torch.randn(shape[0]) * 0.1
    return out


def test_span_vector():
    check_vector("SPAN_50", "span", scale=4, feature_channels=32, norm=True)


def test_folding_equals_the_training_branches():
    """Away from the border (where the training form pads before its 1x1 expand), the folded
    conv computes sk(x) + conv(x), as the official eval mode does."""
    torch.manual_seed(0)
    state = _training_form(build_network("span", **SMALL).state_dict())
    folded = convert(state)
    x = torch.randn(1, 4, 9, 9)
    weight, bias = folded["block_1.c1_r.eval_conv.weight"], folded["block_1.c1_r.eval_conv.bias"]
    got = torch.nn.functional.conv2d(x, weight, bias)

    def conv(name, t):
        return torch.nn.functional.conv2d(
            t, state[f"block_1.c1_r.{name}.weight"], state[f"block_1.c1_r.{name}.bias"]
        )

    want = conv("conv.2", conv("conv.1", conv("conv.0", x))) + conv("sk", x)[..., 1:-1, 1:-1]
    assert torch.allclose(got, want, atol=1e-5)


def test_slim_ntire_file_is_detected():
    _network, arch, params = load_real("ntire/team38_span_ch28_slim.pth")
    assert arch == "span"
    assert params == {"scale": 4, "in_channels": 3, "feature_channels": 28, "norm": True}


@pytest.mark.slow
def test_slim_ntire_file_on_set5():
    from superres.evaluate import evaluate_folder
    from superres.models import load_model

    model = load_model(SHARED / "weights/ntire/team38_span_ch28_slim.pth")
    result = evaluate_folder(model, SHARED / "data/test/Set5")
    assert result.mean("psnr") == pytest.approx(31.74, abs=0.02)  # bicubic: 28.42


def test_no_norm_flag_turns_the_normalisation_off():
    state = {**build_network("span", **SMALL).state_dict(), "no_norm": torch.zeros(1)}
    assert detect_arch(state) == ("span", {**SMALL, "norm": False})
    assert "no_norm" not in convert(state)


@pytest.mark.parametrize("form", ["slim", "training"])
def test_detect_claims_its_own_and_never_raises(form):
    torch.manual_seed(0)
    state = build_network("span", **SMALL).state_dict()
    if form == "training":
        state = _training_form(state)
    assert detect_arch(state) == ("span", SMALL)
    for candidate in detection_order():
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect on span with {label}: {exc!r}")


def test_any_size_whole_and_tiled():
    torch.manual_seed(0)
    network = build_network("span", **SMALL).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 3, 13, 19)).shape == (1, 3, 26, 38)
    model = SRModel(network, "span", SMALL, "span", torch.device("cpu"))
    y = upscale_tensor(model, torch.rand(1, 3, 29, 35), TileOptions(tile=16, tile_overlap=4))
    assert y.shape == (1, 3, 58, 70)
