"""Weights that ship inside the package: they load offline, carry a complete model card with
the eval table, are the default for their scale, and are real SR models (clearly better than
bicubic; the GAN model more natural by NIQE than the PSNR model it was tuned from). The
chain-step files in weights/ (not installed) carry the same cards and meet the same checks."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch

from superres.archs import build_network
from superres.cli import main
from superres.evaluate import EvalOptions, evaluate_folder
from superres.models import default_model_name, load_model, shipped_weights
from superres.weights import load_network, read_metadata, save_network
from superres.zoo import best_psnr_model

SHIPPED = shipped_weights()
ROOT = Path(__file__).resolve().parents[2]
CHAIN_STEPS = {p.stem: p for p in sorted((ROOT / "weights").glob("*.safetensors"))}
ALL_FILES = {**SHIPPED, **CHAIN_STEPS}


def _card(name: str) -> dict:
    return read_metadata(ALL_FILES[name])["card"]


def _of_kind(kind: str) -> list[str]:
    return sorted(n for n in SHIPPED if _card(n)["kind"] == kind)


def _model(name: str, **options):
    """A shipped model by name, a chain step by its path."""
    return load_model(name if name in SHIPPED else CHAIN_STEPS[name], **options)


def test_a_psnr_model_per_scale_and_a_x4_gan_model_ship():
    kinds = {(_card(n)["kind"], _card(n)["scale"]) for n in SHIPPED}
    assert kinds >= {("psnr", 2), ("psnr", 3), ("psnr", 4), ("gan", 4)}, kinds


def test_a_shipped_name_may_leave_out_its_scale():
    """`-m photo-gan` is photo-gan-x4; at a scale it does not ship at, the error names the
    scales it has rather than calling the name unknown."""
    from superres.errors import SuperresError

    assert load_model("photo-gan").name == "photo-gan-x4"
    assert load_model("real-photo", scale=2).name == "real-photo-x2"
    with pytest.raises(SuperresError, match="'photo-gan' is shipped only as photo-gan-x4, not at x2"):
        load_model("photo-gan", scale=2)


def test_shipped_weights_are_small_and_carry_a_model_card():
    assert len(CHAIN_STEPS) == 11
    for name, path in ALL_FILES.items():
        assert path.stat().st_size < 8 * 1024 * 1024, name
        card = read_metadata(path)["card"]
        assert card["kind"] in ("psnr", "gan", "real") and card["scale"] in (2, 3, 4), name
        assert set(card["eval"]["sets"]) == {"Set5", "Set14", "BSD100"}, name
        assert card["parameters"] == sum(p.numel() for p in load_network(path)[0].parameters()), name
        if "origin" in card:  # a third-party model: checked below
            continue
        training = card["training"]
        for key in ("data", "iterations", "wall_time_s", "hardware", "losses"):
            assert training[key], (name, key)
        assert card["metrics"]["Set5"]["psnr"] > 0, name
        assert (ROOT / card["recipe"]).is_file(), name


def test_third_party_models_name_their_origin_and_ship_their_licence():
    """A model we did not train, or fine-tuned from a file we did not train, ships only under
    a licence that allows it, with the licence text in the package and the publisher's file
    named by repository, path, commit and hash; the card says what was changed."""
    from superres.zoo import PRETRAINED_DIR, SHIPPABLE_LICENCES

    third_party = {n: _card(n)["origin"] for n in SHIPPED if "origin" in _card(n)}
    assert set(third_party) == {"rlfn-s-x2", "rlfn-s-x3", "rlfn-s-x4"}
    for name, origin in third_party.items():
        assert origin["licence"] in SHIPPABLE_LICENCES, name
        text = (PRETRAINED_DIR / origin["licence_file"]).read_text()
        assert "Apache License" in text and "Version 2.0" in text, name
        assert origin["source"].startswith("https://github.com/") and origin["file"], name
        assert len(origin["commit"]) == 40 and len(origin["sha256"]) == 64, name
        unchanged = "training" not in _card(name)
        assert ("none to the weights" in origin["changes"]) == unchanged, name
        assert unchanged or origin["changes"].startswith("fine-tuned by superres from "), name


@pytest.mark.slow
@pytest.mark.parametrize("name", _of_kind("psnr") + list(CHAIN_STEPS))
def test_shipped_model_beats_bicubic_on_set5(shared, name):
    # Cards are scored in fp32, as `superres eval` scores by default; `auto` would pick bf16 on
    # a CPU with native bf16 (its Set5 delta is pinned in test_inference).
    model = _model(name, precision="fp32")  # shipped: from inside the package, no network access
    set5 = shared / "data/test/Set5"
    bicubic = evaluate_folder(load_model("bicubic", scale=model.scale), set5).mean("psnr")
    ours = evaluate_folder(model, set5).mean("psnr")
    assert ours > bicubic + 1.0, (ours, bicubic)
    assert ours == pytest.approx(_card(name)["eval"]["sets"]["Set5"]["psnr"], abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", _of_kind("gan"))
def test_gan_model_is_more_natural_than_the_psnr_model_it_was_tuned_from(shared, name):
    gan = load_model(name, precision="fp32")  # the card's precision, as in superres eval
    psnr_model = load_model(Path(_card(name)["training"]["pretrained"]).stem, precision="fp32")  # shipped
    set5, params = shared / "data/test/Set5", shared / "data/niqe/niqe_pris_params.npz"
    metrics = ("psnr", "niqe", "grid")
    scores = [evaluate_folder(m, set5, EvalOptions(metrics, niqe_params=params)) for m in (gan, psnr_model)]
    assert scores[0].mean("niqe") < scores[1].mean("niqe") - 0.3, [
        s.mean("niqe") for s in scores
    ]  # 7.00 vs 7.62
    assert scores[0].mean("psnr") > 25.0
    # no pixel-shuffle checkerboard: Set5's HR images score 0.15; a generator tuned with too
    # little L1 (0.2) learnt a visible 4-pixel grid that scored 1.4 on Set14
    assert scores[0].mean("grid") < 0.5
    assert scores[0].mean("niqe") == pytest.approx(_card(name)["eval"]["sets"]["Set5"]["niqe"], abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", _of_kind("real"))
def test_real_photo_model_beats_the_default_on_jpeg_lr(shared, name):
    """A model for real photos restores JPEG-compressed LR better than the clean-LR default of
    its scale, which sharpens the JPEG blocks along with the edges; its card's degraded-LR
    scores are what `superres eval --lr-jpeg 75` gives."""
    from superres.evaluate import LRDegradation

    model = load_model(name, precision="fp32")  # the card's precision, as in superres eval
    jpeg = LRDegradation(jpeg_quality=75)
    set14 = shared / "data/test/Set14"
    ours = evaluate_folder(model, set14, EvalOptions(degradation=jpeg)).mean("psnr")
    default_model = load_model(default_model_name(model.scale), precision="fp32")
    default = evaluate_folder(default_model, set14, EvalOptions(degradation=jpeg))
    assert ours > default.mean("psnr") + 0.3, (ours, default.mean("psnr"))
    (card_row,) = [row for row in _card(name)["eval"]["degraded"] if row["lr"] == jpeg.describe()]
    assert ours == pytest.approx(card_row["sets"]["Set14"]["psnr"], abs=1e-3)
    assert "--lr-jpeg 75" in card_row["command"]


def test_models_command_shows_each_shipped_model_with_its_scores(capsys):
    assert main(["models"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in SHIPPED:
        sets = _card(name)["eval"]["sets"]
        assert f"{sets['BSD100']['psnr']:.2f}" in rows[name] and f"x{_card(name)['scale']}" in rows[name]


def test_default_model_is_the_best_shipped_psnr_model_per_scale():
    """The release check: the declared default of each scale is what ranking the shipped
    cards (superres.zoo.best_psnr_model) picks."""
    cards = {n: _card(n) for n in SHIPPED}
    for scale in (2, 3, 4):
        candidates = {
            n: statistics.mean(s["psnr"] for s in read_metadata(p)["card"]["eval"]["sets"].values())
            for n, p in SHIPPED.items()
            if read_metadata(p)["scale"] == scale and read_metadata(p)["kind"] == "psnr"
        }
        expected = max(candidates, key=candidates.get) if candidates else "bicubic"
        assert default_model_name(scale) == expected
        assert best_psnr_model(cards, scale) == expected


def test_default_model_is_chosen_on_all_test_sets_not_set5_alone(tmp_path):
    """`a` has the best Set5 by 0.0001 dB, `b` the best Set14 and BSD100: the release check
    ranks `b` first (Set5 alone would pick `a`); a GAN model, a model for real photos (scored
    on clean LR too, but made for degraded LR) and another scale never are."""
    network = build_network("srvgg", scale=3, num_feat=4, num_conv=1)

    def ship(name, scores, kind="psnr", scale=3):
        sets = {s: {"psnr": v} for s, v in zip(("Set5", "Set14", "BSD100"), scores, strict=True)}
        card = {"kind": kind, "scale": scale, "metrics": {"Set5": sets["Set5"]}, "eval": {"sets": sets}}
        save_network(tmp_path / f"{name}.safetensors", network, "srvgg", {"scale": scale}, card)

    ship("a", (33.9491, 29.8665, 28.9255))
    ship("b", (33.9490, 29.8786, 28.9320))
    ship("gan", (35.0, 31.0, 30.0), kind="gan")
    ship("real", (35.0, 31.0, 30.0), kind="real")
    cards = {p.stem: read_metadata(p)["card"] for p in sorted(tmp_path.glob("*.safetensors"))}
    assert best_psnr_model(cards, 3) == "b" and best_psnr_model(cards, 2) == "bicubic"


def test_strength_blends_a_fine_tune_with_the_model_it_started_from(tmp_path):
    """Network interpolation: strength 0 is the start, 1 the fine-tune, between them the
    weights mix linearly; a model's card may name its default strength (real-photo-x4: 0.7,
    chosen on Set14 by benchmarks/strength.py)."""
    from superres.errors import SuperresError
    from superres.models import blended

    lr = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(3))
    trained = load_model("real-photo-x4", precision="fp32", strength=1.0)
    start = load_model("compact64-x4-kd", precision="fp32")
    assert torch.equal(load_model("real-photo", precision="fp32", strength=0.0)(lr), start(lr))
    half = blended(trained, 0.5).network.state_dict()
    own, theirs = trained.network.state_dict(), start.network.state_dict()
    assert all(torch.allclose(half[k], (own[k] + theirs[k]) / 2) for k in own)
    shipped = load_model("real-photo-x4", precision="fp32")
    assert _card("real-photo-x4")["strength"] == 0.7 and shipped.name == "real-photo-x4"
    assert torch.equal(shipped(lr), blended(trained, 0.7)(lr))
    assert load_model("photo-gan", strength=0.5).name == "photo-gan-x4@0.5"  # a GAN's texture, halved
    # a 48x8 x4 network whose card says it started from the 64x12 compact64-x4-kd
    params = {"scale": 4, "num_feat": 48, "num_conv": 8}
    card = {"kind": "psnr", "scale": 4, "training": {"pretrained": "compact64-x4-kd"}}
    other_network = tmp_path / "compact-x4-from-64.safetensors"
    save_network(other_network, build_network("srvgg", **params), "srvgg", params, card)
    for name, message in (
        (CHAIN_STEPS["compact64-x4"], "not fine-tuned from a shipped model"),
        (other_network, "started from compact64-x4-kd, another network or scale"),
    ):
        with pytest.raises(SuperresError, match=message):
            load_model(name, strength=0.5)
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", "x.png", "-m", "real-photo", "--strength", "1.5"])
    assert exit_info.value.code == 2
