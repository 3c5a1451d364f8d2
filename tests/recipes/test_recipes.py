"""Every recipe loads, builds its network and trains for one (tiny) iteration. recipes/
holds what reproduces a shipped model or a chain-step file in weights/ (and the smoke-test
recipe), each naming the file it starts from; recipes/experiments/ holds the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from superres.models import shipped_weights
from superres.train.recipe import load_recipe
from superres.train.trainer import train
from superres.weights import read_metadata

ROOT = Path(__file__).resolve().parents[2]
REPRODUCING = sorted((ROOT / "recipes").glob("*.yaml"))
EXPERIMENTS = sorted((ROOT / "recipes/experiments").glob("*.yaml"))
RECIPES = REPRODUCING + EXPERIMENTS
CHAIN_STEPS = {p.stem: p for p in sorted((ROOT / "weights").glob("*.safetensors"))}
SMOKE_TEST = "tiny-test"


@pytest.fixture(scope="module")
def few_photos(shared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted((shared / "data/train/BSD200").glob("*.png"))[:3]:
        os.symlink(path, folder / path.name)
    return folder


def test_recipes_cover_the_issue():
    names = {p.stem for p in RECIPES}
    assert {"imdn-x2", "imdn-x3", "imdn-x4", "esrgan-x4-gan", "realesrgan-x4-gan", "seed-x4"} <= names
    assert len(names) == len(RECIPES)  # no name in both folders


def test_recipes_folder_holds_what_reproduces_a_model_file():
    """Every model we trained or fine-tuned has its recipe; third-party models shipped as
    released (their card names an origin and no training: scripts/ship_third_party.py) have
    none."""
    ours = {n: p for n, p in shipped_weights().items() if "training" in read_metadata(p)["card"]}
    assert len(ours) == len(shipped_weights()) - 2  # rlfn-s-x2, rlfn-s-x4
    files = {**ours, **CHAIN_STEPS}
    assert {p.stem for p in REPRODUCING} - {SMOKE_TEST} == set(files)
    for name, path in files.items():
        assert read_metadata(path)["card"]["recipe"] == f"recipes/{name}.yaml", name


def _named_file(value: str) -> str:
    """The model a recipe's ``pretrained`` or ``teacher`` names: a shipped name, or a chain step
    as weights/NAME.safetensors (which must be in the checkout)."""
    if value in shipped_weights():
        return value
    path = Path(value)
    assert path.parent == Path("weights") and path.suffix == ".safetensors", value
    assert (ROOT / path).is_file(), value
    return path.stem


@pytest.mark.parametrize("path", [p for p in REPRODUCING if p.stem != SMOKE_TEST], ids=lambda p: p.stem)
def test_each_reproducing_recipe_names_what_its_model_started_from(path):
    """The card of the file a recipe reproduces names the start and teacher the recipe names."""
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    file = shipped_weights().get(path.stem) or CHAIN_STEPS[path.stem]
    training = read_metadata(file)["card"]["training"]
    card_start = Path(training.get("pretrained") or "").stem
    start = _named_file(recipe.network.pretrained) if recipe.network.pretrained else ""
    assert start == card_start, (start, card_start)
    card_teacher = (training.get("teacher") or {}).get("model", "")
    teacher = _named_file(recipe.data.teacher) if recipe.data.teacher else ""
    assert teacher == Path(card_teacher).stem


def _in_checkout(value: str) -> str | None:
    """A shipped name as it is, a file of the checkout as an absolute path; None for another
    run's output, which a clean checkout does not have."""
    if value in shipped_weights() or value == "bicubic":
        return value
    return str(ROOT / value) if (ROOT / value).is_file() else None


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_runs_one_iteration(path, few_photos, tmp_path):
    recipe = load_recipe(path)
    assert (
        all(Path(folder).name in {"T91", "BSD200"} for folder in recipe.data.train)
        or path.stem == SMOKE_TEST
    )
    overrides = [f"output={tmp_path}", f"data.train=[{few_photos}]", "val.sets=[]", "train.iterations=1",
                 "data.batch_size=1", "data.workers=0"]  # fmt: skip
    start = _in_checkout(recipe.network.pretrained) if recipe.network.pretrained else None
    if start:  # a shipped model or a chain step: the run must start from it
        overrides.append(f"network.pretrained={start}")
    else:
        overrides += ["network.pretrained=''", "network.pretrained_deepen=false"]
    if recipe.data.teacher:  # one pass of the teacher, not eight
        teacher = _in_checkout(recipe.data.teacher) or "bicubic"
        overrides += ["data.teacher_tta=false", f"data.teacher={teacher}"]
    if recipe.train.perceptual:
        overrides.append("train.perceptual.weights_path=random")  # no VGG19 weights on this machine
    out, card = train(load_recipe(path, overrides), progress=False)
    trained_arch = (card["trained_as"] or card)["arch"]  # folded networks are exported as srvgg
    assert out.is_file() and trained_arch == recipe.network.arch and card["scale"] == recipe.data.scale
