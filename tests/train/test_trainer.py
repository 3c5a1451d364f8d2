"""Training from a recipe end to end: checks before the run folder, the model file, its card."""

from __future__ import annotations

import json

import pytest
import torch

from superres.cli import main
from superres.errors import SuperresError
from superres.train.checkpoint import CHECKPOINT_NAME
from superres.train.recipe import load_recipe
from superres.train.trainer import train
from superres.weights import load_network, read_metadata
from tests.conftest import requantised_folder
from tests.train.conftest import ROOT, TINY, tiny


@pytest.mark.slow
def test_tiny_recipe_trains_validates_and_exports(shared, tmp_path, capsys):
    recipe = tiny(tmp_path, shared)
    path, card = train(recipe, progress=False)
    run = tmp_path / "tiny-test"
    assert path == run / "tiny-test.safetensors" and (run / CHECKPOINT_NAME).is_file()
    assert card["kind"] == "psnr" and card["arch"] == "srvgg" and card["scale"] == 2
    assert card["parameters"] == sum(p.numel() for p in load_network(path)[0].parameters()) > 0
    assert card["training"]["iterations"] == 20 and card["training"]["data"] == [
        str(shared / "data/train/T91")
    ]
    assert 25 < card["metrics"]["Set5"]["psnr"] < 40 and len(card["validation_history"]) == 2
    assert len((run / "log.jsonl").read_text().splitlines()) == 4
    # superres upscale and eval load the export directly
    out = tmp_path / "up.png"
    assert main(["upscale", str(ROOT / "assets/sample.png"), "-m", str(path), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    set5_dir = str(shared / "data/test/Set5")
    assert main(["eval", "-m", str(path), "--data", set5_dir, "-q", "--format", "json"]) == 0
    (set5,) = json.loads(capsys.readouterr().out)["sets"]
    assert set5["psnr"] == pytest.approx(
        card["metrics"]["Set5"]["psnr"], abs=1e-4
    )  # same network and protocol
    from superres.weights import read_metadata

    assert read_metadata(path)["card"]["metrics"] == card["metrics"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.schedule.type=linear", r"unknown schedule 'linear'"),
        ("train.optimizer.type=sgd", r"unknown optimizer 'sgd'"),
        ("train.losses=[{type: l3}]", r"unknown loss 'l3'"),
        ("network.arch=nonet", r"unknown network 'nonet'"),
        ("train.gan={loss: wgan}", r"unknown GAN loss 'wgan'"),
        ("train.gan={discriminator: patchgan}", r"unknown discriminator 'patchgan'"),
        ("data.train=[no/such/folder]", r"no/such/folder"),
        ("network.pretrained_deepen=true", r"network\.pretrained_deepen needs network\.pretrained"),
        ("data.teacher=compact64-x4-mse", r"data\.teacher is x4 with 3 input channels, the recipe trains x2"),
        ("data.teacher=no-such-model", r"data\.teacher: no model or weights file named 'no-such-model'"),
        ("val.sets=[no/such/set]", r"no/such/set: val\.sets: no such folder"),  # found before training
    ],
)
def test_bad_recipe_values_stop_before_the_run_folder(shared, tmp_path, override, message):
    """These are found before the run folder and its recipe.yaml are written (an unknown
    schedule too, which warm-up would hide until its end)."""
    with pytest.raises(SuperresError, match=message):  # an unknown network: when the recipe loads
        train(tiny(tmp_path, shared, "train.schedule.warmup=5", override), progress=False)
    assert not (tmp_path / "tiny-test").exists()


@pytest.mark.slow
def test_images_smaller_than_the_patch_are_reported_and_counted_in_the_card(shared, tmp_path, capsys):
    """51 of T91's 91 images are under 192 pixels on a side; they are named and counted."""
    recipe = tiny(tmp_path, shared, "data.patch_size=96", "train.iterations=2", "val.sets=[]")
    _, card = train(recipe, progress=False)
    assert card["training"]["images"] == {"used": 40, "too_small_for_the_patch": 51}
    assert "51 of 91 training images are smaller than the 192-pixel HR patch" in capsys.readouterr().out
    _, card = train(tiny(tmp_path / "b", shared, "train.iterations=2", "val.sets=[]"), progress=False)
    assert card["training"]["images"] == {"used": 91, "too_small_for_the_patch": 0}
    assert "smaller than" not in capsys.readouterr().out


@pytest.mark.slow
def test_pretrained_may_name_a_shipped_model(shared, tmp_path, monkeypatch):
    """``network.pretrained`` may be a shipped model's name, which works wherever superres is
    installed (a path such as superres/pretrained/NAME.safetensors works only from a checkout)."""
    from superres.models import shipped_weights
    from superres.weights import load_network

    monkeypatch.chdir(tmp_path)  # no superres/pretrained/ here
    overrides = ("network.pretrained=compact-x2-kd", "network.params={num_feat: 48, num_conv: 8}")
    overrides += ("train.optimizer.lr=0", "train.iterations=1", "val.sets=[]")
    path, card = train(tiny(tmp_path, shared, *overrides), progress=False)
    shipped = load_network(shipped_weights()["compact-x2-kd"])[0].state_dict()
    assert card["training"]["pretrained"] == "compact-x2-kd"
    assert all(torch.equal(value, shipped[key]) for key, value in load_network(path)[0].state_dict().items())


@pytest.mark.slow
def test_a_16_bit_run_validates_on_16_bit_images(shared, tmp_path):
    """Validation (evaluation) takes 16-bit images."""
    train16 = requantised_folder(shared / "data/train/BSD200", tmp_path / "t16", 4095, 3)
    val16 = requantised_folder(shared / "data/test/Set5", tmp_path / "v16", 4095, 2)
    recipe = load_recipe(TINY, [f"output={tmp_path}", f"data.train=[{train16}]", f"val.sets=[{val16}]"])
    train(recipe, progress=False)
    card = read_metadata(recipe.run_dir / f"{recipe.name}.safetensors")["card"]
    assert 25 < card["metrics"]["v16"]["psnr"] < 45
