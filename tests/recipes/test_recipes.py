"""Every shipped recipe loads, builds its network and trains for one (tiny) iteration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from superres.models import shipped_weights
from superres.train.recipe import load_recipe
from superres.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.fixture(scope="module")
def few_photos(shared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted((shared / "data/train/BSD200").glob("*.png"))[:3]:
        os.symlink(path, folder / path.name)
    return folder


def test_recipes_cover_the_issue():
    names = {p.stem for p in RECIPES}
    assert {"imdn-x2", "imdn-x3", "imdn-x4", "esrgan-x4-gan", "realesrgan-x4-gan", "seed-x4"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_runs_one_iteration(path, few_photos, tmp_path):
    recipe = load_recipe(path)
    assert (
        all(Path(folder).name in {"T91", "BSD200"} for folder in recipe.data.train)
        or path.stem == "tiny-test"
    )
    overrides = [f"output={tmp_path}", f"data.train=[{few_photos}]", "val.sets=[]", "train.iterations=1",
                 "data.batch_size=1", "data.workers=0"]  # fmt: skip
    start = ROOT / recipe.network.pretrained
    if recipe.network.pretrained and start.is_relative_to(ROOT / "superres/pretrained"):
        overrides.append(f"network.pretrained={start}")  # a shipped model: the run must start from it
    else:  # another run's output, not in a clean checkout
        overrides += ["network.pretrained=''", "network.pretrained_deepen=false"]
    if recipe.data.teacher:  # one pass of the teacher, not eight; a run's output is not in a checkout
        teacher_is_shipped = recipe.data.teacher in shipped_weights() or recipe.data.teacher == "bicubic"
        overrides += ["data.teacher_tta=false"] + ([] if teacher_is_shipped else ["data.teacher=bicubic"])
    if recipe.train.perceptual:
        overrides.append("train.perceptual.weights_path=random")  # no VGG19 weights on this machine
    out, card = train(load_recipe(path, overrides), progress=False)
    trained_arch = (card["trained_as"] or card)["arch"]  # folded networks are exported as srvgg
    assert out.is_file() and trained_arch == recipe.network.arch and card["scale"] == recipe.data.scale
