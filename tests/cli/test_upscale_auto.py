"""`superres upscale` without -m: ``auto`` picks a model per input and says which ran."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import superres
import superres.models
from superres import zoo
from superres.cli import main
from superres.weights import read_metadata
from tests.conftest import smooth_image


def _real_photo(scale: int) -> str:
    return next(m.name for m in zoo.SHIPPED if m.role == zoo.REAL_PHOTO and m.scale == scale)


@pytest.fixture()
def inputs(tmp_path) -> dict[str, Path]:
    """The same picture as a JPEG at quality 60, as a PNG, and as a noisy PNG (sigma 10)."""
    pixels = smooth_image(64, 64)
    noisy = np.clip(pixels + np.random.default_rng(0).normal(0, 10, pixels.shape), 0, 255)
    paths = {"low": tmp_path / "low.jpg", "clean": tmp_path / "clean.png", "noisy": tmp_path / "noisy.png"}
    Image.fromarray(pixels).save(paths["low"], quality=60)
    Image.fromarray(pixels).save(paths["clean"])
    Image.fromarray(noisy.astype(np.uint8)).save(paths["noisy"])
    return paths


@pytest.fixture()
def loads(monkeypatch) -> list[str]:
    """The names superres.models.load_model is called with."""
    names: list[str] = []
    real = superres.models.load_model

    def counting(name=None, *args, **kwargs):
        names.append(str(name))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(superres.models, "load_model", counting)
    return names


def test_each_input_gets_the_model_for_what_it_carries_and_the_line_says_so(inputs, tmp_path, capsys, loads):
    """A JPEG at quality 60 and a noisy PNG get the model for real photos, a clean PNG the
    default; a line per file names the model, a closing line sums up; each model loads once."""
    out = tmp_path / "out"
    assert main(["upscale", *map(str, inputs.values()), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    real, default = _real_photo(4), zoo.DEFAULTS[4]
    assert "low.jpg: JPEG quality 60" in err and f"-> {real}\n" in err
    assert f"clean.png: clean -> {default}" in err
    assert "noisy.png: noisy (sigma " in err and f") -> {real}" in err
    assert f"wrote 3 image(s): {real} for 2 (JPEG quality 60" in err and f"{default} for 1" in err
    assert "JPEGs saved at quality" not in err  # the old note: auto did what it advised
    # bicubic: the device check; and the start real-photo blends with (compact64-x4-kd)
    start = Path(read_metadata(zoo.SHIPPED_BY_NAME[real].file)["card"]["training"]["pretrained"]).stem
    assert sorted(loads) == sorted(["bicubic", real, default, start])
    result = np.asarray(Image.open(out / "clean_x4.png"))
    assert np.array_equal(result, superres.upscale(np.asarray(Image.open(inputs["clean"])), model=default))


def test_quiet_says_nothing_and_x3_keeps_the_default(inputs, tmp_path, capsys):
    assert main(["upscale", str(inputs["low"]), "-o", str(tmp_path / "q"), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["upscale", str(inputs["low"]), "-o", str(tmp_path / "x3"), "-s", "3"]) == 0
    err = capsys.readouterr().err
    assert "low.jpg: JPEG quality 60" in err and f"-> {zoo.DEFAULTS[3]} (none for real photos ships)" in err
    assert main(["upscale", str(inputs["low"]), "-o", str(tmp_path / "x2"), "-s", "2"]) == 0
    assert f"-> {_real_photo(2)}" in capsys.readouterr().err


def test_strength_goes_to_the_model_for_real_photos(inputs, tmp_path, loads, monkeypatch):
    strengths: dict[str, object] = {}
    real = superres.models.load_model  # the counting one

    def recording(name=None, *args, strength=None, **kwargs):
        strengths.setdefault(str(name), strength)  # not the blend's own load of its start
        return real(name, *args, strength=strength, **kwargs)

    monkeypatch.setattr(superres.models, "load_model", recording)
    paths = [str(inputs["clean"]), str(inputs["low"])]
    assert main(["upscale", *paths, "-o", str(tmp_path / "s"), "--strength", "0.3", "-q"]) == 0
    assert strengths[_real_photo(4)] == 0.3 and strengths[zoo.DEFAULTS[4]] is None


def test_an_unusable_device_fails_once_before_any_file(inputs, tmp_path, capsys):
    assert (
        main(["upscale", *map(str, inputs.values()), "-o", str(tmp_path / "d"), "--precision", "fp16"]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("fp16 is for GPUs") == 1 and not (tmp_path / "d").exists()


def test_a_named_psnr_model_on_low_jpegs_gets_a_note_naming_auto(inputs, tmp_path, capsys):
    """-m default on a JPEG at quality 90 or below: a note says auto or -m real-photo removes
    the artefacts; not for a good JPEG, other models, or -q."""
    Image.open(inputs["clean"]).save(tmp_path / "high.jpg", quality=95)
    low, high = str(inputs["low"]), str(tmp_path / "high.jpg")
    assert main(["upscale", low, high, "-o", str(tmp_path / "out"), "-m", "default"]) == 0
    err = capsys.readouterr().err
    assert "note: 1 input(s) are JPEGs saved at quality 90 or below (low.jpg: about 60)" in err
    assert f"auto (no -m) or -m {_real_photo(4)} removes them" in err
    for extra in (["-q"], ["-m", _real_photo(4)], ["-m", "photo-gan"], ["-m", "default", "-s", "3"]):
        assert main(["upscale", low, "-o", str(tmp_path / "out2"), *extra]) == 0
        assert "JPEGs saved at quality" not in capsys.readouterr().err, extra
    assert main(["upscale", low, "-o", str(tmp_path / "out3"), "-m", "compact-x2-kd"]) == 0
    assert f"-m {_real_photo(2)} removes them" in capsys.readouterr().err


def test_eval_does_not_take_auto(tmp_path, capsys):
    assert main(["eval", "-m", "auto", "--data", str(tmp_path)]) == 2
    assert "auto picks a model image by image" in capsys.readouterr().err


def test_the_python_api_picks_as_the_cli_does(inputs, tmp_path):
    """superres.upscale(path) with no model is auto; load_model() with none is the default."""
    picked = superres.upscale(inputs["low"], output=tmp_path / "a.png")
    named = superres.upscale(inputs["low"], _real_photo(4), output=tmp_path / "b.png")
    default = superres.upscale(inputs["low"], "default", output=tmp_path / "c.png")
    assert np.array_equal(np.asarray(Image.open(picked)), np.asarray(Image.open(named)))
    assert not np.array_equal(np.asarray(Image.open(picked)), np.asarray(Image.open(default)))
    noisy = np.asarray(Image.open(inputs["noisy"]))
    assert np.array_equal(superres.upscale(noisy), superres.upscale(noisy, model=_real_photo(4)))
    assert superres.load_model().name == zoo.DEFAULTS[4]
