"""PLKSR: the test vector, detection of its variants by shape, odd sizes and tiles."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.weights import detect_arch
from tests.archs.test_detect import _mutations
from tests.archs.vectors import check_vector
from tests.engine import tiny_model

_SMALL = {"scale": 2, "dim": 8, "n_blocks": 1, "kernel_size": 5}


def test_vector_plksr_50():
    check_vector("PLKSR_50", "plksr", scale=4, dim=32, n_blocks=4, kernel_size=17, ccm_type="CCM")


@pytest.mark.parametrize(
    "variant",
    [
        {"ccm_type": "DCCM"},
        {"ccm_type": "ICCM", "use_ea": False},
        {"lk_type": "RectSparsePLK", "kernel_size": 9},
        {"split_channels": 4, "scale": 3},
    ],
)
def test_detects_its_variants(variant):
    params = {**_SMALL, **variant}
    state = build_network("plksr", **params).state_dict()
    arch, found = detect_arch(state)
    assert arch == "plksr"
    assert {k: found[k] for k in params if k in found} == {k: v for k, v in params.items() if k in found}


def check_detect_is_strict(name: str, state: dict) -> None:
    """``name`` claims ``state``; no spec's detect raises on a mangled copy of it, and ``name``
    claims none with a key missing. (Shared with the other networks' tests of this task.)"""
    assert detect_arch(state)[0] == name
    (own,) = [s for s in detection_order() if s.name == name]
    for candidate in detection_order():
        for label, mangled in _mutations(state):
            try:
                found = candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect with {label}: {type(exc).__name__}: {exc}")
            if candidate is own and label.startswith("no "):
                assert found is None, label


def test_detect_never_raises_and_claims_only_its_own():
    check_detect_is_strict("plksr", build_network("plksr", **_SMALL).state_dict())


def test_odd_size_whole_and_tiled():
    network = build_network("plksr", **_SMALL).eval()
    x = torch.rand(1, 3, 13, 19)
    with torch.no_grad():
        whole = network(x)
    assert whole.shape == (1, 3, 26, 38)
    tiled = upscale_tensor(tiny_model(network), x, TileOptions(tile=16, tile_overlap=14))
    assert (tiled - whole).abs().max().item() <= 1 / 255


_REAL = {"scale": 2, "dim": 8, "n_blocks": 2, "kernel_size": 5}


def test_realplksr_is_not_plksr_and_keeps_the_dropout_slot():
    state = build_network("realplksr", **_REAL).state_dict()
    assert "feats.4.weight" in state and not any(k.startswith("feats.3.") for k in state)
    assert detect_arch(state)[0] == "realplksr"


@pytest.mark.parametrize(
    "variant",
    [
        {"layer_norm": True},
        {"dysample": True, "scale": 4},
        {"dysample": True, "scale": 3, "use_ea": False, "split_channels": 4},
    ],
)
def test_detects_realplksr_variants(variant):
    params = {**_REAL, **variant}
    state = build_network("realplksr", **params).state_dict()
    if params.get("dysample"):  # released files store DySample's base positions
        groups = 3 if params["scale"] % 2 else 4
        state["to_img.init_pos"] = torch.zeros(1, 2 * groups * params["scale"] ** 2, 1, 1)
    arch, found = detect_arch(state)
    assert arch == "realplksr"
    assert {k: found[k] for k in params} == params


def test_realplksr_detect_is_strict():
    check_detect_is_strict("realplksr", build_network("realplksr", **_REAL, dysample=True).state_dict())


def test_realplksr_odd_size():
    network = build_network("realplksr", **_REAL, dysample=True).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 3, 13, 19)).shape == (1, 3, 26, 38)
