"""Weights that ship inside the package: they load offline, carry a complete model card,
are the default for their scale, and are real SR models (clearly better than bicubic)."""

from __future__ import annotations

import pytest

from superres.evaluate import evaluate_folder
from superres.models import default_model_name, load_model, shipped_weights
from superres.weights import read_metadata

SHIPPED = shipped_weights()


def test_shipped_weights_are_small_and_carry_a_model_card():
    assert SHIPPED, "no weights ship with the package"
    for name, path in SHIPPED.items():
        assert path.stat().st_size < 8 * 1024 * 1024, name
        card = read_metadata(path)["card"]
        assert card["kind"] in ("psnr", "gan") and card["scale"] in (2, 3, 4), name
        training = card["training"]
        for key in ("data", "iterations", "wall_time_s", "hardware", "losses"):
            assert training[key], (name, key)
        assert card["metrics"]["Set5"]["psnr"] > 0, name


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_beats_bicubic_on_set5(shared, name):
    model = load_model(name)  # from inside the package: no path, no network access
    set5 = shared / "data/test/Set5"
    bicubic = evaluate_folder(load_model("bicubic", scale=model.scale), set5).mean("psnr")
    ours = evaluate_folder(model, set5).mean("psnr")
    assert ours > bicubic + 1.0, (ours, bicubic)
    assert ours == pytest.approx(read_metadata(SHIPPED[name])["card"]["metrics"]["Set5"]["psnr"], abs=1e-3)


def test_default_model_is_the_best_shipped_psnr_model_per_scale():
    for scale in (2, 3, 4):
        candidates = {
            n: read_metadata(p)["card"]["metrics"]["Set5"]["psnr"]
            for n, p in SHIPPED.items()
            if read_metadata(p)["scale"] == scale and read_metadata(p)["kind"] == "psnr"
        }
        expected = max(candidates, key=candidates.get) if candidates else "bicubic"
        assert default_model_name(scale) == expected
