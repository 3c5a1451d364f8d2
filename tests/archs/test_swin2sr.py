"""Swin2SR: the test vector, every released upsampler by round trip, detection, any size."""

from __future__ import annotations

import pytest
import torch

from superres.archs.swin2sr_arch import Swin2SR, detect
from tests.archs.test_swinir import (
    SMALL,
    check_any_size,
    check_detect_is_strict,
    check_round_trip,
    check_training_mode_vector,
    released_layout,
)


def test_vector():
    # Made in training mode, where stochastic depth happened to drop the MLP branch of the
    # last block (block 3, branch 1); in eval mode the output differs by up to 0.28.
    check_training_mode_vector(
        "Swin2SR_50", "swin2sr", dropped=((3, 1),), window_size=8, upsampler="pixelshuffledirect"
    )


# No vector holds these heads: a file in the released layout (index, coordinate-table and
# mask buffers included) is recognised with its parameters and runs as built.
CASES = {
    "classical pixelshuffle x2": {"scale": 2, "upsampler": "pixelshuffle"},
    "compressed pixelshuffle_aux x4": {"scale": 4, "upsampler": "pixelshuffle_aux", "num_feat": 8},
    "real-world nearest+conv x4": {"scale": 4, "upsampler": "nearest+conv", "num_feat": 8},
    "jpeg x1 window 7": {"scale": 1, "upsampler": "", "window_size": 7, "img_range": 255.0},
    "lightweight x3 3conv": {"scale": 3, "upsampler": "pixelshuffledirect", "resi_connection": "3conv"},
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
    "case",
    [
        pytest.param(c, marks=() if c == "compressed pixelshuffle_aux x4" else pytest.mark.slow)
        for c in sorted(CASES)
    ],
)
def test_released_layouts_round_trip(tmp_path, case):
    params = _params(CASES[case])
    torch.manual_seed(0)
    check_round_trip(tmp_path, Swin2SR(**params), "swin2sr", params)


def test_window_defaults_to_8_without_buffers():
    network = Swin2SR(**_params({"window_size": 8, "depths": [2], "num_heads": [2]}))
    assert detect(network.state_dict())["window_size"] == 8


def test_detect_is_strict_and_never_raises():
    torch.manual_seed(0)
    network = Swin2SR(**_params({"num_feat": 8, "depths": [2], "num_heads": [2]}))
    check_detect_is_strict(released_layout(network, SMALL["window_size"]), "swin2sr")


def test_any_size_whole_and_tiled(tmp_path):
    params = _params({"num_feat": 8})
    check_any_size(Swin2SR(**params), tmp_path, "swin2sr", params)
