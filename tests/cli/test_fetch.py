"""`superres fetch NAME`: a named model too big to ship, put in the models folder and then
used by name (`-m realesrgan-x4plus`). Tests never download: --from and file:// URLs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from superres import zoo
from superres.archs import build_network, count_parameters
from superres.cli import main


@pytest.fixture
def models_folder(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("SUPERRES_MODELS", str(folder))
    return folder


def _tiny_image(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(path)
    return path


def test_absent_named_model_is_one_line_naming_the_fetch_command(models_folder, tmp_path, capsys):
    assert main(["upscale", str(_tiny_image(tmp_path)), "-m", "realesrgan-x4plus"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: realesrgan-x4plus is not on this machine: `superres fetch realesrgan-x4plus` downloads"
        f" it (67 MB, {zoo.external_model('realesrgan').origin}, BSD-3-Clause) into {models_folder}\n"
    )
    assert main(["models"]) == 0
    assert "not on this machine: superres fetch realesrgan-x4plus" in capsys.readouterr().out


def test_fetch_from_a_copy_installs_the_named_model(shared, models_folder, tmp_path, capsys):
    source = shared / "weights/realesrgan/realesrgan-x4plus.safetensors"
    assert main(["fetch", "realesrgan-x4plus", "--from", str(source)]) == 0
    installed = models_folder / "realesrgan-x4plus.safetensors"
    assert installed.read_bytes() == source.read_bytes()
    assert "a known file of it" in capsys.readouterr().out
    assert main(["fetch", "realesrgan"]) == 0  # already here: nothing downloaded
    assert capsys.readouterr().out.startswith(f"realesrgan-x4plus is already on this machine: {installed}")

    assert main(["inspect", "realesrgan-x4plus", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["arch"], info["params"]["num_block"], info["scale"]) == ("rrdbnet", 23, 4)
    assert (info["card"]["kind"], info["card"]["licence"]) == ("gan", "BSD-3-Clause")
    assert main(["models"]) == 0
    assert f"16,697,987  {installed}" in capsys.readouterr().out


@pytest.mark.slow
def test_fetched_realesrgan_upscales_by_name(shared, models_folder, tmp_path):
    """16.7M parameters: loading and a 10x12 image take several seconds on 2 cores."""
    source = shared / "weights/realesrgan/realesrgan-x4plus.safetensors"
    assert main(["fetch", "realesrgan-x4plus", "--from", str(source), "-q"]) == 0
    image, out = _tiny_image(tmp_path), tmp_path / "out.png"
    assert main(["upscale", str(image), "-m", "realesrgan", "-o", str(out), "-q"]) == 0
    assert Image.open(out).size == (48, 40)


def test_fetch_refuses_another_network_and_leaves_nothing(shared, models_folder, capsys):
    source = shared / "weights/ditn/DITN_Real_GAN_x4.pth"
    assert main(["fetch", "realesrgan-x4plus", "--from", str(source)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {source}: not realesrgan-x4plus, not kept: it is ditn(")
    assert list(models_folder.iterdir()) == []
    assert main(["fetch", "esrgan-x9"]) == 2
    assert "no model to fetch named 'esrgan-x9' (models that do not ship: realesrgan-x4plus)" in (
        capsys.readouterr().err
    )


def test_fetch_downloads_from_the_declared_url(monkeypatch, models_folder, tmp_path, capsys):
    """The download path end to end, from a file:// URL standing in for the publisher's, and
    the fetched model used by its name."""
    network = build_network("srvgg", scale=2, num_feat=8, num_conv=2)
    source = tmp_path / "tiny.pth"
    torch.save(network.state_dict(), source)
    import hashlib

    declared = zoo.ExternalModel(
        name="tiny-x2",
        kind="psnr",
        scale=2,
        arch="srvgg",
        arch_params=(("num_feat", 8),),
        parameters=count_parameters(network),
        url=source.as_uri(),
        url_bytes=source.stat().st_size,
        sha256s=(hashlib.sha256(source.read_bytes()).hexdigest(),),
        licence="CC0",
        origin="a test",
        summary="a tiny network",
    )
    monkeypatch.setattr(zoo, "EXTERNAL", (declared,))
    assert main(["fetch", "tiny-x2", "-q"]) == 0
    captured = capsys.readouterr()
    assert f"downloading tiny-x2 (0 MB, CC0) from {source.as_uri()}" in captured.err
    assert (models_folder / "tiny-x2.pth").read_bytes() == source.read_bytes()
    assert main(["fetch", "tiny-x2", "--force", "-q"]) == 0
    out = tmp_path / "out.png"
    assert main(["upscale", str(_tiny_image(tmp_path)), "-m", "tiny-x2", "-o", str(out), "-q"]) == 0
    assert Image.open(out).size == (24, 20)
