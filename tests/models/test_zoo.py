"""The declared zoo (superres.zoo): what ships is what is declared, each declaration agrees
with its file's card, and the declared defaults and bf16 verifications are what run."""

from __future__ import annotations

from pathlib import Path

import pytest

from superres import zoo
from superres.models import default_model_name, load_model, shipped_of_kind, shipped_weights
from superres.weights import read_metadata

ROOT = Path(__file__).resolve().parents[2]


def _card(model: zoo.ShippedModel) -> dict:
    return read_metadata(model.file)["card"]


def test_every_declared_file_ships_and_every_shipped_file_is_declared():
    assert all(m.file.is_file() for m in zoo.SHIPPED)
    on_disk = {p.name for p in zoo.PRETRAINED_DIR.iterdir() if p.name not in ("__pycache__", "licenses")}
    assert on_disk == {m.file.name for m in zoo.SHIPPED}
    licences = {p.name for p in (zoo.PRETRAINED_DIR / "licenses").iterdir()}
    named = {Path(_card(m)["origin"]["licence_file"]).name for m in zoo.SHIPPED if "origin" in _card(m)}
    assert licences == named
    assert shipped_weights() == {m.name: m.file for m in sorted(zoo.SHIPPED, key=lambda m: m.name)}
    assert len(zoo.SHIPPED_BY_NAME) == len(zoo.SHIPPED) == 13


def test_a_model_fine_tuned_from_third_party_weights_names_their_origin_and_licence():
    """Its card keeps the publisher's file, SHA-256 and licence, and says what was changed."""
    derived = []
    for model in zoo.SHIPPED:
        if "training" not in _card(model):
            continue  # shipped as its publisher released it
        start, chain = _card(model)["training"].get("pretrained"), []
        while start and "origin" not in _start_card(start):  # a chain step of ours (weights/)
            chain.append(start)
            start = _start_card(start).get("training", {}).get("pretrained")
        if start:
            theirs, ours = _start_card(start)["origin"], _card(model).get("origin", {})
            keys = ("source", "file", "sha256", "licence", "licence_file")
            assert {k: ours.get(k) for k in keys} == {k: theirs[k] for k in keys}, model.name
            first = chain[0] if chain else start
            said = f"fine-tuned by superres from {first} with recipes/"
            assert ours["changes"].startswith(said), model.name
            derived.append(model.name)
    assert derived == ["rlfn-s-x3"]


def _start_card(pretrained: str) -> dict:
    """The card of a ``training.pretrained``: a shipped model's name or a file in the repository."""
    shipped = zoo.SHIPPED_BY_NAME.get(pretrained)
    path = shipped.file if shipped else ROOT / pretrained
    return read_metadata(path)["card"] if path.is_file() else {}


def test_each_declaration_agrees_with_its_card():
    for model in zoo.SHIPPED:
        card = _card(model)
        assert (card["kind"], card["scale"]) == (model.kind, model.scale), model.name
        assert read_metadata(model.file)["scale"] == model.scale, model.name
        assert model.role in zoo.ROLES, model.name


def test_one_declared_default_per_scale_and_bicubic_elsewhere():
    assert zoo.DEFAULTS == {2: "rlfn-s-x2", 3: "rlfn-s-x3", 4: "rlfn-s-x4"}
    assert [default_model_name(s) for s in (2, 3, 4)] == [zoo.DEFAULTS[s] for s in (2, 3, 4)]
    assert default_model_name(8) == "bicubic" and load_model("default", scale=8).arch == "bicubic"
    assert {m.scale for m in zoo.SHIPPED if m.role == zoo.FASTER} == {2, 3, 4}
    assert all(zoo.SHIPPED_BY_NAME[name].kind == "psnr" for name in zoo.DEFAULTS.values())


def test_every_model_a_shipped_model_blends_with_ships():
    """--strength blends a fine-tune with its start (its card's training.pretrained)."""
    for model in zoo.SHIPPED:
        if model.role in (zoo.GAN, zoo.REAL_PHOTO):
            start = Path(_card(model)["training"]["pretrained"]).stem
            assert start in zoo.SHIPPED_BY_NAME, model.name
            start_model = zoo.SHIPPED_BY_NAME[start]
            assert (start_model.kind, start_model.scale) == ("psnr", model.scale), model.name
            if model.role == zoo.GAN:
                assert start_model.role == zoo.GAN_START, model.name
    assert {m.name for m in zoo.SHIPPED if m.role == zoo.GAN_START} == {"compact64-x4-mse"}


def test_bf16_is_verified_for_the_psnr_defaults_and_faster_models_only():
    defaults_and_faster = {f"compact64-x{s}-kd" for s in (2, 3, 4)} | {f"compact-x{s}-kd" for s in (2, 3, 4)}
    assert defaults_and_faster | {f"rlfn-s-x{s}" for s in (2, 3, 4)} == zoo.BF16_VERIFIED


def test_auto_precision_follows_the_declarations(monkeypatch):
    """On a CPU with native bf16, `auto` is bf16 for a model declared bf16-verified, fp32 for
    any other shipped model and for weights loaded from a path (even a shipped file's)."""
    monkeypatch.setattr("superres.models.cpu_has_native_bf16", lambda: True)
    assert load_model("compact64-x4-kd").precision == "bf16"
    assert load_model("photo-gan").precision == "fp32"
    assert load_model(zoo.SHIPPED_BY_NAME["compact64-x4-kd"].file).precision == "fp32"
    assert load_model(ROOT / "weights/compact64-x4.safetensors").precision == "fp32"
    monkeypatch.setattr("superres.models.cpu_has_native_bf16", lambda: False)
    assert load_model("compact64-x4-kd").precision == "fp32"


@pytest.mark.parametrize(("kind", "scale"), [("psnr", 4), ("gan", 4), ("real", 2), ("real", 3)])
def test_shipped_of_kind_reads_the_declarations(kind, scale):
    expected = {m.name for m in zoo.SHIPPED if (m.kind, m.scale) == (kind, scale)}
    found = shipped_of_kind(kind, scale)
    assert set(found) == expected
    assert all(meta["kind"] == kind and meta["scale"] == scale for meta in found.values())


def test_chain_steps_are_outside_the_package():
    assert not (ROOT / "weights").is_relative_to(ROOT / "superres")
    chain_steps = {p.stem for p in (ROOT / "weights").glob("*.safetensors")}
    assert chain_steps and not chain_steps & set(zoo.SHIPPED_BY_NAME)
    assert (ROOT / "weights/README.md").is_file()


def test_load_model_takes_its_options_by_keyword():
    from superres.errors import SuperresError

    with pytest.raises(TypeError):
        load_model("default", 4, "cpu")  # type: ignore[misc]
    assert load_model("default", 4, device="cpu").name == "rlfn-s-x4"
    for name, message in (
        ("compact-x2", "no model or weights file named 'compact-x2'"),
        ("srvgg", "network 'srvgg' has no shipped weights; pass a weights file"),
    ):
        with pytest.raises(SuperresError, match=message):
            load_model(name)
