"""HAT: the test vectors, released layouts by round trip, detection, any size."""

from __future__ import annotations

import pytest
import torch

from superres.archs.hat_arch import HAT, detect
from tests.archs.test_swinir import (
    check_any_size,
    check_detect_is_strict,
    check_round_trip,
    check_training_mode_vector,
)

SMALL = {"embed_dim": 12, "depths": [2, 1], "num_heads": [2, 3], "window_size": 4, "mlp_ratio": 2.0}


def _params(case: dict) -> dict:
    params = {
        "scale": 2,
        "in_channels": 3,
        **SMALL,
        "compress_ratio": 3,
        "squeeze_factor": 4,
        "conv_scale": 0.01,
        "overlap_ratio": 0.5,
        "resi_connection": "1conv",
        "upsampler": "pixelshuffle",
        "num_feat": 8,
        "img_range": 1.0,
    }
    return {**params, **case}


def _released(network: HAT) -> dict[str, torch.Tensor]:
    """As the official HAT saves itself: its two index buffers at the top level."""
    first = network.layers[0].residual_group
    return {
        **network.state_dict(),
        "relative_position_index_SA": first.blocks[0].attn.relative_position_index.clone(),
        "relative_position_index_OCA": first.overlap_attn.relative_position_index.clone(),
    }


@pytest.mark.parametrize(
    ("name", "scale", "num_feat", "dropped"),
    # HAT_50 was made in training mode where stochastic depth dropped the MLP branch of the
    # last block; HAT_51 kept every branch (scaled by 1 / (1 - p)). Eval-mode output
    # differs from them by 4e-3 and 1e-3.
    [("HAT_50", 4, 32, ((3, 1),)), ("HAT_51", 2, 16, ())],
)
def test_vectors(name, scale, num_feat, dropped):
    check_training_mode_vector(
        name,
        "hat",
        dropped=dropped,
        window_size=8,
        scale=scale,
        num_feat=num_feat,
        compress_ratio=3,
        squeeze_factor=4,
        overlap_ratio=0.5,
    )


CASES = {
    "x2": {},
    "x3 overlap 0.25 gray": {"scale": 3, "overlap_ratio": 0.25, "in_channels": 1, "window_size": 8},
    "x4 HAT-S ratios": {"scale": 4, "embed_dim": 24, "compress_ratio": 24, "squeeze_factor": 24},
}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=() if c == "x2" else pytest.mark.slow) for c in sorted(CASES)]
)
def test_released_layouts_round_trip(tmp_path, case):
    params = _params(CASES[case])
    torch.manual_seed(0)
    network = HAT(**params)
    check_round_trip(tmp_path, network, "hat", params, layout=lambda net, _window: _released(net))


def test_detect_is_strict_and_never_raises():
    torch.manual_seed(0)
    network = HAT(**_params({"depths": [2], "num_heads": [2]}))
    check_detect_is_strict(_released(network), "hat")
    assert detect(network.state_dict()) is not None


def test_any_size_whole_and_tiled(tmp_path):
    params = _params({})
    check_any_size(HAT(**params), tmp_path, "hat", params)
