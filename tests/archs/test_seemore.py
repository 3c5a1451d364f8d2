"""SeemoRe: the test vector, detection by shape, batches, small and odd sizes, tiles."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.weights import detect_arch
from tests.archs.test_plksr import check_detect_is_strict
from tests.archs.vectors import check_vector
from tests.engine import tiny_model

_SMALL = {"scale": 2, "embedding_dim": 8, "num_layers": 1, "expert_ranks": (2, 4), "global_kernel_size": 5}


def test_vector_seemore_09():
    check_vector(
        "SeemoRe_09",
        "seemore",
        scale=2,
        embedding_dim=36,
        num_layers=6,
        expert_ranks=(2, 4, 8),
        use_shuffle=True,
    )


@pytest.mark.parametrize(
    ("variant", "settings"),
    [
        ({"scale": 4, "expert_ranks": (2, 3, 4, 5)}, {"use_shuffle": True, "recursive": 2}),
        ({"num_layers": 16, "embedding_dim": 48}, {"use_shuffle": False, "recursive": 1}),  # SeemoRe-L
    ],
)
def test_detects_its_variants_and_the_released_settings(variant, settings):
    params = {**_SMALL, **variant, **settings}
    arch, found = detect_arch(build_network("seemore", **params).state_dict())
    assert arch == "seemore"
    assert {k: found[k] for k in params} == params


def test_detect_never_raises_and_claims_only_its_own():
    check_detect_is_strict("seemore", build_network("seemore", **_SMALL).state_dict())


def test_each_image_of_a_batch_is_routed_as_if_alone():
    network = build_network("seemore", **_SMALL).eval()
    x = torch.rand(3, 3, 16, 20)
    with torch.no_grad():
        batch = network(x)
        single = torch.cat([network(x[i : i + 1]) for i in range(3)])
    assert (batch - single).abs().max().item() < 1e-5


@pytest.mark.parametrize("size", [(13, 19), (3, 5), (1, 1)])
def test_small_and_odd_sizes(size):
    network = build_network("seemore", **_SMALL).eval()
    with torch.no_grad():
        y = network(torch.rand(1, 3, *size))
    assert y.shape == (1, 3, 2 * size[0], 2 * size[1])
    assert torch.isfinite(y).all()


def test_tiled_run_has_the_whole_run_shape():
    network = build_network("seemore", **_SMALL).eval()
    x = torch.rand(1, 3, 29, 37)
    tiled = upscale_tensor(tiny_model(network), x, TileOptions(tile=20, tile_overlap=8))
    assert tiled.shape == (1, 3, 58, 74)
