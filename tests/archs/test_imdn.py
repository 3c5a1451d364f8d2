"""IMDN's variants from Zheng222/IMDN beside the paper's network: IMDN_AS.pth (real photos,
x1 on a bicubic-enlarged input) and model_RTE.pth (89.7K parameters, x2). Each file is
detected by its keys alone (and the paper's files still as imdn); no bicubic-protocol
numbers are published for the variants, so RTE must beat bicubic on Set5 and AS must give
a sharper-than-bicubic picture of a real photo; any input size works, tiled too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.archs import build_network, count_parameters, detection_order
from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.evaluate import EvalOptions, evaluate_folder, make_lr, super_resolve
from superres.io import read_image
from superres.models import load_model
from tests.archs.test_detect import _mutations
from tests.archs.vectors import load_real

SMALL = {
    "imdn": {"scale": 2, "num_feat": 8, "num_modules": 1},
    "imdn_as": {"scale": 4, "num_feat": 8, "num_modules": 2},
    "imdn_rte": {"scale": 2, "num_feat": 8, "num_modules": 2},
}
BICUBIC_SET5 = {2: 33.68, 4: 28.42}  # measured with `superres eval -m bicubic` (RCAN: 33.66, 28.42)


@pytest.mark.parametrize(
    ("file", "arch", "params"),
    [
        ("IMDN_x3.pth", "imdn", {"scale": 3, "in_channels": 3, "num_feat": 64, "num_modules": 6}),
        ("IMDN_AS.pth", "imdn_as", {"scale": 4, "in_channels": 3, "num_feat": 64, "num_modules": 6}),
        ("model_RTE.pth", "imdn_rte", {"scale": 2, "in_channels": 3, "num_feat": 20, "num_modules": 6}),
    ],
)
def test_each_file_is_detected_by_its_keys(file, arch, params):
    network, found, found_params = load_real(f"imdn/{file}")
    assert (found, found_params) == (arch, params)
    assert network.scale == params["scale"]


def test_rte_has_the_published_parameter_count():
    assert count_parameters(load_real("imdn/model_RTE.pth")[0]) == 89_748  # "89.7K"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("file", "scale", "expected"), [("model_RTE.pth", 2, 35.41), ("IMDN_AS.pth", 4, 28.24)]
)
def test_set5_psnr(shared, file, scale, expected):
    """RTE (x2, trained on down-sampled noisy input) is 1.7 dB over bicubic; AS, a real-photo
    model, is on a par with bicubic on the clean bicubic protocol (28.24 vs 28.42)."""
    model = load_model(shared / f"weights/imdn/{file}")
    psnr = evaluate_folder(model, shared / "data/test/Set5", EvalOptions(metrics=("psnr",))).mean("psnr")
    assert model.scale == scale and psnr == pytest.approx(expected, abs=0.01)
    assert psnr > BICUBIC_SET5[scale] + 1.5 if file == "model_RTE.pth" else psnr > BICUBIC_SET5[scale] - 0.5


def _detail(image: np.ndarray) -> float:
    """Mean absolute horizontal + vertical difference: how much fine detail an image has."""
    pixels = image.astype(np.float64)
    return float(np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean())


def test_as_gives_a_sharper_picture_of_a_real_photo_than_bicubic(shared):
    hr = read_image(shared / "data/test/Set14/baboon.png").pixels[96:192, 96:192, :3]
    lr = make_lr(hr, 4)
    sr = super_resolve(load_model(shared / "weights/imdn/IMDN_AS.pth"), lr, TileOptions(tile=0))
    bicubic = super_resolve(load_model("bicubic", scale=4), lr, TileOptions(tile=0))
    assert sr.shape == hr.shape and abs(sr.mean() - hr.mean()) < 3
    assert _detail(bicubic) < _detail(sr) < _detail(hr) * 1.2
    error = np.abs(sr.astype(np.float64) - hr).mean()
    assert error < np.abs(bicubic.astype(np.float64) - hr).mean() * 1.1


@pytest.mark.parametrize("name", sorted(SMALL))
def test_detect_never_raises_on_a_mangled_state_dict_and_claims_its_own(name):
    state = build_network(name, **SMALL[name]).state_dict()
    for candidate in detection_order():
        claims = candidate.detect(state)
        assert (claims is not None) == (candidate.name == name), candidate.name
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect with {label}: {type(exc).__name__}: {exc}")
    (own,) = [s for s in detection_order() if s.name == name]
    assert own.detect(state) == {"in_channels": 3, **SMALL[name]}


@pytest.mark.parametrize(("file", "scale"), [("model_RTE.pth", 2), ("IMDN_AS.pth", 4)])
def test_any_size_works_whole_and_tiled(shared, file, scale):
    model = load_model(shared / f"weights/imdn/{file}")
    x = torch.rand(1, 3, 13, 19)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=8, tile_overlap=2))
    assert whole.shape == tiled.shape == (1, 3, 13 * scale, 19 * scale)
    assert torch.isfinite(tiled).all() and whole.mean().item() == pytest.approx(x.mean().item(), abs=0.05)


@pytest.mark.parametrize("scale", [2, 3])
def test_as_runs_at_other_scales_on_any_size(scale):
    """Its enlarged input must be a multiple of 4: padded, and the output cropped."""
    network = build_network("imdn_as", scale=scale, num_feat=16, num_modules=1).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 3, 13, 19)).shape == (1, 3, 13 * scale, 19 * scale)
    assert network.size_multiple == {2: 2, 3: 4}[scale]
