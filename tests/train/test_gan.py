"""GAN training: discriminators, adversarial/feature-matching/perceptual losses, fine-tuning
from a PSNR model, exact resume with the discriminator's state."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from superres.errors import SuperresError
from superres.train.checkpoint import CHECKPOINT_NAME
from superres.train.discriminators import build_discriminator
from superres.train.losses import GAN_LOSSES, discriminator_loss, feature_matching_loss, generator_loss
from superres.train.recipe import load_recipe
from superres.train.trainer import train
from superres.train.vgg import VGG19Features
from superres.weights import load_network, read_metadata

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes/tiny-test.yaml"


def _recipe(tmp_path, shared, name, *overrides):
    base = [f"output={tmp_path}", f"name={name}", f"data.train=[{shared / 'data/train/T91'}]", "val.sets=[]",
            "data.patch_size=16", "train.iterations=4", "train.checkpoint_interval=2"]  # fmt: skip
    return load_recipe(TINY, [*base, *overrides])


@pytest.fixture(scope="module")
def psnr_model(shared, tmp_path_factory):
    path, _ = train(_recipe(tmp_path_factory.mktemp("psnr"), shared, "psnr"), progress=False)
    return path


@pytest.mark.parametrize(
    "gan",
    [
        "{discriminator: unet, discriminator_params: {num_feat: 8}, loss: vanilla, feature_matching: 1.0}",
        "{discriminator: vgg, discriminator_params: {num_feat: 8}, loss: ragan}",
        "{discriminator: unet, discriminator_params: {num_feat: 8}, loss: hinge}",
        "{discriminator: vgg, discriminator_params: {num_feat: 8}, loss: lsgan, feature_matching: 0.5}",
    ],
)
@pytest.mark.slow
def test_gan_fine_tune_runs_with_each_discriminator_and_loss(shared, tmp_path, psnr_model, gan):
    recipe = _recipe(tmp_path, shared, "gan", f"train.gan={gan}", f"network.pretrained={psnr_model}",
                     "train.perceptual={weights_path: random, layers: {conv2_2: 1.0}}")  # fmt: skip
    path, card = train(recipe, progress=False)
    assert card["kind"] == "gan" and card["training"]["pretrained"] == str(psnr_model)
    log = (tmp_path / "gan/log.jsonl").read_text()
    assert '"gan"' in log and '"discriminator"' in log and '"perceptual"' in log
    assert read_metadata(path)["card"]["kind"] == "gan"
    state = torch.load(tmp_path / "gan" / CHECKPOINT_NAME, weights_only=True)
    assert state["discriminator"] and state["d_optimizer"]["state"]


@pytest.mark.slow
def test_gan_resume_is_exact(shared, tmp_path):
    gan = "train.gan={discriminator: unet, discriminator_params: {num_feat: 8}, feature_matching: 1.0}"
    train(_recipe(tmp_path / "a", shared, "g", gan), progress=False)
    halves = _recipe(tmp_path / "b", shared, "g", gan)
    train(halves, progress=False, stop_after=2)
    train(halves, resume=True, progress=False)
    a = torch.load(tmp_path / "a/g" / CHECKPOINT_NAME, weights_only=True)
    b = torch.load(tmp_path / "b/g" / CHECKPOINT_NAME, weights_only=True)
    for part in ("network", "ema", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)


def test_pretrained_must_match_the_network(shared, tmp_path, psnr_model):
    """The mismatch is found before the run folder is made."""
    recipe = _recipe(
        tmp_path, shared, "bad", f"network.pretrained={psnr_model}", "network.params={num_feat: 4}"
    )
    with pytest.raises(SuperresError, match="do not fit"):
        train(recipe, progress=False)
    assert not recipe.run_dir.exists()


def test_pretrained_from_another_scale_only_when_partial(shared, tmp_path, psnr_model, capsys):
    x3 = ("data.scale=3", f"network.pretrained={psnr_model}", "train.iterations=0")
    with pytest.raises(SuperresError, match="x2, the recipe trains srvgg x3"):
        train(_recipe(tmp_path, shared, "strict", *x3), progress=False)
    path, card = train(
        _recipe(tmp_path, shared, "partial", *x3, "network.pretrained_partial=true"), progress=False
    )
    assert "trained from scratch: body.6.bias, body.6.weight" in capsys.readouterr().out
    source, started = load_network(psnr_model)[0].state_dict(), load_network(path)[0].state_dict()
    assert card["scale"] == 3 and card["training"]["pretrained_partial"] is True
    assert started["body.6.weight"].shape[0] == 27 and source["body.6.weight"].shape[0] == 12
    assert all(torch.equal(started[k], source[k]) for k in source if not k.startswith("body.6."))


def test_pretrained_deepen_starts_a_deeper_network_from_the_shallower_output(shared, tmp_path, psnr_model):
    deeper = (
        "network.params={num_feat: 8, num_conv: 4}",
        f"network.pretrained={psnr_model}",
        "train.iterations=0",
    )
    with pytest.raises(SuperresError, match="do not fit"):
        train(_recipe(tmp_path, shared, "strict", *deeper), progress=False)
    path, card = train(
        _recipe(tmp_path, shared, "deep", *deeper, "network.pretrained_deepen=true"), progress=False
    )
    assert card["training"]["pretrained_deepen"] is True
    source, started = load_network(psnr_model)[0].eval(), load_network(path)[0].eval()
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert len(started.body) == len(source.body) + 4 and torch.allclose(started(x), source(x), atol=1e-6)
    espcn = _recipe(tmp_path, shared, "espcn", f"network.pretrained={psnr_model}", "network.arch=espcn",
                    "network.params={}", "network.pretrained_deepen=true")  # fmt: skip
    with pytest.raises(SuperresError, match="espcn cannot be deepened"):
        train(espcn, progress=False)
    assert not espcn.run_dir.exists()


def test_reparameterisable_network_starts_from_the_plain_one_it_folds_into(shared, tmp_path, psnr_model):
    ecbsr = (
        "network.arch=ecbsr",
        "network.params={num_feat: 8, num_block: 2}",
        f"network.pretrained={psnr_model}",
    )
    path, card = train(_recipe(tmp_path, shared, "ecb", *ecbsr, "train.iterations=0"), progress=False)
    assert card["trained_as"]["arch"] == "ecbsr"
    source, started = load_network(psnr_model)[0].eval(), load_network(path)[0].eval()
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.allclose(started(x), source(x), atol=1e-5)
    for override, message in [
        ("network.params={num_feat: 8, num_block: 3}", "does not fit"),
        ("network.pretrained_partial=true", "as a whole"),
    ]:
        recipe = _recipe(tmp_path, shared, "ecb-bad", *ecbsr, override)
        with pytest.raises(SuperresError, match=message):
            train(recipe, progress=False)
        assert not recipe.run_dir.exists()


def test_adversarial_losses_point_the_right_way():
    confident_real, confident_fake = torch.full((4, 1), 5.0), torch.full((4, 1), -5.0)
    for kind in GAN_LOSSES:
        good_d = discriminator_loss(kind, confident_real, confident_fake)
        bad_d = discriminator_loss(kind, confident_fake, confident_real)
        assert good_d < bad_d, kind
        fooled = generator_loss(kind, confident_real, confident_real.clone())  # fakes judged as real
        caught = generator_loss(kind, confident_real, confident_fake)
        assert fooled < caught, kind
    features = [torch.rand(2, 4, 8, 8)]
    assert feature_matching_loss(features, features).item() == 0.0


@pytest.mark.parametrize("kind", ["unet", "vgg"])
def test_discriminators_give_logits_and_features(kind):
    disc = build_discriminator(kind, num_feat=8, **({"input_size": 64} if kind == "vgg" else {}))
    logits, features = disc(torch.rand(2, 3, 64, 64))
    assert logits.shape == ((2, 1, 64, 64) if kind == "unet" else (2, 1)) and len(features) >= 5


def test_vgg19_loads_torchvision_keys_and_refuses_to_download(tmp_path):
    source = VGG19Features(["conv5_4"], "random")
    state = {k: v for k, v in source.state_dict().items() if k.startswith("features.")}
    state["classifier.0.weight"] = torch.zeros(4096, 25088 // 64)  # present in the real file, ignored
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    loaded = VGG19Features(["conv1_2", "conv5_4"], path)
    assert torch.equal(loaded.features[34].weight, source.features[34].weight)
    with pytest.raises(SuperresError, match="VGG19 weights not found"):
        VGG19Features(["conv5_4"], tmp_path / "absent.pth")


def test_discriminator_optimizer_follows_the_recipe():
    from superres.train.gan import build_adversary
    from superres.train.recipe import GanConfig, OptimizerConfig

    config = GanConfig(discriminator_params={"num_feat": 8}, optimizer=OptimizerConfig(type="adamw", lr=3e-4))
    adversary = build_adversary(config, channels=3, hr_patch=32, device=torch.device("cpu"), wrap=lambda m: m)
    assert isinstance(adversary.optimizer, torch.optim.AdamW)  # not Adam, the default
    assert adversary.optimizer.param_groups[0]["lr"] == 3e-4
    with pytest.raises(SuperresError, match="unknown optimizer"):
        build_adversary(
            GanConfig(optimizer=OptimizerConfig(type="sgd")),
            channels=3,
            hr_patch=32,
            device=torch.device("cpu"),
            wrap=lambda m: m,
        )


def test_discriminator_warmup_leaves_the_generator_alone(shared, tmp_path, psnr_model):
    gan = "train.gan={discriminator: unet, discriminator_params: {num_feat: 8}, discriminator_warmup: 3}"
    recipe = _recipe(tmp_path, shared, "warm", gan, f"network.pretrained={psnr_model}", "train.iterations=3")
    path, _ = train(recipe, progress=False)
    start, after = load_network(psnr_model)[0].state_dict(), load_network(path)[0].state_dict()
    assert all(torch.equal(start[k], after[k]) for k in start)
    state = torch.load(tmp_path / "warm" / CHECKPOINT_NAME, weights_only=True)
    assert state["d_optimizer"]["state"] and not state["optimizer"]["state"]  # only D has stepped
    log = (tmp_path / "warm/log.jsonl").read_text()
    assert '"discriminator"' in log and '"gan"' not in log


def test_gan_trains_under_bf16_autocast(shared, tmp_path, psnr_model):
    gan = "train.gan={discriminator: unet, discriminator_params: {num_feat: 8}, feature_matching: 1.0}"
    fast = ("train.precision=bf16", "train.channels_last=true")
    recipe = _recipe(tmp_path, shared, "bf16", gan, f"network.pretrained={psnr_model}", *fast)
    _, card = train(recipe, progress=False)
    assert card["training"]["precision"] == "bf16"
    last = json.loads((tmp_path / "bf16/log.jsonl").read_text().splitlines()[-1])
    assert all(math.isfinite(last[k]) for k in ("l1", "gan", "feature_matching", "discriminator"))
    state = torch.load(tmp_path / "bf16" / CHECKPOINT_NAME, weights_only=True)
    assert all(v.dtype == torch.float32 for v in state["discriminator"].values() if v.is_floating_point())


def test_lowpass_keeps_shapes_and_highpass_keeps_texture():
    from superres.train.losses import highpass, l1_lowpass, lowpass

    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    gradient = (0.2 + 0.6 * xx / 47).expand(1, 3, 48, 48)
    checker = 0.1 * ((yy + xx) % 2 * 2 - 1).expand(1, 3, 48, 48)
    error = (lowpass(gradient) - gradient).abs()
    assert error[..., 6:-6].max() < 1e-4  # exact beyond the kernel's reach of the borders
    assert error.max() < 0.025  # reflected borders bend a slope a little; zero padding: a dark rim
    assert lowpass(checker).abs().max() < 1e-3 and torch.allclose(highpass(checker), checker, atol=1e-3)
    # Texture added to a target moves L1 but hardly the low-pass L1.
    assert (
        l1_lowpass(gradient + checker, gradient)
        < 1e-3
        < torch.nn.functional.l1_loss(gradient + checker, gradient)
    )


def test_frequency_separation_shows_the_discriminator_only_high_frequencies():
    from superres.train.gan import build_adversary
    from superres.train.losses import highpass
    from superres.train.recipe import GanConfig

    seen = []
    config = GanConfig(discriminator_params={"num_feat": 8}, feature_matching=1.0, frequency_separation=True)
    adversary = build_adversary(config, channels=3, hr_patch=32, device=torch.device("cpu"), wrap=lambda m: m)
    forward = adversary.module.forward
    adversary.module.forward = lambda x: seen.append(x.detach().clone()) or forward(x)
    sr, hr = torch.rand(2, 3, 32, 32, requires_grad=True), torch.rand(2, 3, 32, 32)
    terms = adversary.generator_terms(sr, hr)
    adversary.step(sr, hr)
    assert set(terms) == {"gan", "feature_matching"} and len(seen) == 4
    for image in seen:  # real and fake, for the generator's terms and the discriminator's step
        assert any(torch.allclose(image, highpass(x.detach()), atol=1e-6) for x in (sr, hr))
    assert _fs_recipe_uses_frequency_separation()


def _fs_recipe_uses_frequency_separation() -> bool:
    recipe = load_recipe(ROOT / "recipes/experiments/photo-gan-x4-fs.yaml")
    return recipe.train.gan.frequency_separation and recipe.train.losses[0].type == "l1_lowpass"
