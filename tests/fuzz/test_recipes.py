"""Hostile recipes: ``superres train RECIPE`` refuses each with one line and exit 2 (bad usage),
no traceback and nothing written; the recipe loader either loads a mapping or raises
SuperresError naming the file, never another exception."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from superres.errors import SuperresError
from superres.train.recipe import load_recipe
from tests.fuzz.conftest import assert_only_added_under, run_superres, tree_state


def _base(output: Path) -> dict[str, Any]:
    """A recipe that loads (its data folder need not exist: every case is refused before)."""
    return {
        "name": "fuzz",
        "network": {"arch": "srvgg", "params": {"num_feat": 8, "num_conv": 2}},
        "data": {"train": ["no-such-folder"], "scale": 2, "patch_size": 24, "batch_size": 4},
        "train": {"iterations": 2, "losses": [{"type": "l1"}], "optimizer": {"type": "adam", "lr": 1e-3}},
        "output": str(output),
    }


def _with(recipe: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node = recipe
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return recipe


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)

VALUE_CASES = {
    "name-parent": ("name", "../../x"),
    "name-empty": ("name", ""),
    "name-dots": ("name", ".."),
    "params-int": ("network.params", 5),
    "params-list": ("network.params", [1, 2]),
    "params-negative": ("network.params", {"num_feat": -8}),
    "params-zero": ("network.params", {"num_feat": 0}),
    "params-word": ("network.params", {"num_feat": "eight"}),
    "params-huge": ("network.params", {"num_conv": 100000000}),
    "params-unknown": ("network.params", {"depth": 3}),
    "params-nested": ("network.params", {"num_feat": {"a": [1]}}),
    "arch-number": ("network.arch", 5),
    "arch-unknown": ("network.arch", "nonet"),
    "betas-one": ("train.optimizer.betas", [0.9]),
    "betas-big": ("train.optimizer.betas", [2, 5]),
    "weight-decay": ("train.optimizer.weight_decay", -1),
    "lr-huge": ("train.optimizer.lr", 1e300),
    "lr-nan": ("train.optimizer.lr", float("nan")),
    "batch-float": ("data.batch_size", 1e8),
    "batch-huge": ("data.batch_size", 10**8),
    "iterations-huge": ("train.iterations", 10**30),
    "seed-huge": ("train.seed", 2**70),
    "network-int": ("network", 5),
    "data-list": ("data", [1]),
    "train-string": ("train", "x"),
    "train-list": ("data.train", "folder"),
    "losses-mapping": ("train.losses", {"a": 1}),
    "losses-int": ("train.losses", [5]),
    "optimizer-int": ("train.optimizer", 3),
    "gan-list": ("train.gan", []),
    "degradation-int": ("data.degradation", 7),
    "val-int": ("val", 1),
    "schedule-milestones": ("train.schedule", {"milestones": ["x"]}),
    "discriminator-params": ("train.gan", {"discriminator_params": {"num_feat": 10**9}}),
    "unknown-top": ("surprise", 1),
    "loss-unknown": ("train.losses", [{"type": "l3"}]),
    "optimizer-unknown": ("train.optimizer.type", "sgd"),
    "schedule-unknown": ("train.schedule.type", "linear"),
    "gan-loss-unknown": ("train.gan", {"loss": "wgan"}),
    "discriminator-unknown": ("train.gan", {"discriminator": "patchgan"}),
    "gan-optimizer-unknown": ("train.gan", {"optimizer": {"type": "sgd"}}),
    "perceptual-criterion": ("train.perceptual", {"criterion": "l2", "weights_path": "random"}),
    "perceptual-layer": ("train.perceptual", {"layers": {"conv9_9": 1.0}, "weights_path": "random"}),
}

TEXT_CASES = {
    "not-a-mapping-list": "- a\n- b\n",
    "not-a-mapping-number": "42\n",
    "not-a-mapping-string": "'just text'\n",
    "billion-laughs": BILLION_LAUGHS,
    "deep-nesting": "[" * 5000 + "]" * 5000 + "\n",
    "unclosed": "name: [unclosed\n",
    "tabs": "name:\tx\n\tnetwork: 1\n",
    "python-tag": "!!python/object/apply:os.system ['echo hi']\n",
    "empty": "",
}


def _hostile_files(folder: Path, output: Path) -> dict[str, bytes]:
    files = {}
    for case, (key, value) in VALUE_CASES.items():
        files[case] = yaml.safe_dump(_with(_base(output), key, value)).encode()
    files |= {case: text.encode() for case, text in TEXT_CASES.items()}
    files["name-absolute"] = yaml.safe_dump(_with(_base(output), "name", str(folder / "elsewhere"))).encode()
    good = yaml.safe_dump(_base(output))
    files["duplicate-keys"] = (good + "name: again\n").encode()
    files["non-utf8"] = good.encode().replace(b"fuzz", b"f\xffzz")
    files["binary"] = random.Random(0).randbytes(4000)
    files["huge-file"] = good.encode() + b"#" * (2 << 20)
    return files


@pytest.mark.slow
def test_hostile_recipes_are_refused_in_one_line_writing_nothing(tmp_path):
    output, recipes = tmp_path / "out", tmp_path / "recipes"
    recipes.mkdir()
    (tmp_path / "model.safetensors").write_bytes(b"not ours")  # beside the output root, where ../ reaches
    files = _hostile_files(tmp_path, output)
    for case, content in files.items():
        (recipes / f"{case}.yaml").write_bytes(content)
    before = tree_state(tmp_path)
    for case in files:
        path = recipes / f"{case}.yaml"
        outcome = run_superres("train", path, "-q")
        assert outcome.code == 2, (case, outcome)
        assert outcome.err.startswith(f"error: {path}: "), (case, outcome.err)
        assert outcome.err.count("\n") == 1, (case, outcome.err)
    assert_only_added_under(before, tree_state(tmp_path), output)
    assert not output.exists()


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = [
    "name", "network", "network.arch", "network.params", "network.params.num_feat", "network.pretrained",
    "data", "data.train", "data.scale", "data.patch_size", "data.batch_size", "data.degradation",
    "data.degradation.stages", "data.downscales", "train", "train.iterations", "train.losses",
    "train.optimizer", "train.optimizer.betas", "train.gan", "train.gan.discriminator_params",
    "train.schedule", "train.perceptual", "train.seed", "val", "val.sets", "output", "description",
]  # fmt: skip
FUZZ_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _loads_or_names_the_file(path: Path) -> None:
    try:
        load_recipe(path)
    except SuperresError as exc:
        assert exc.path == str(path) and str(exc).startswith(f"{path}: "), str(exc)


@pytest.mark.slow
@FUZZ_SETTINGS
@given(data=st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), VALUES, max_size=6))
def test_any_mapping_loads_or_raises_superres_error_naming_the_file(tmp_path, data):
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(data))
    _loads_or_names_the_file(path)


@FUZZ_SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3))
def test_a_recipe_with_any_key_changed_loads_or_raises_superres_error_naming_the_file(tmp_path, changes):
    recipe = _base(tmp_path / "out")
    for key, value in changes:
        try:
            _with(recipe, key, value)
        except (AttributeError, TypeError):  # a parent replaced by a scalar: that case is covered
            continue
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(recipe))
    _loads_or_names_the_file(path)


@pytest.mark.parametrize("override", ["name", "=1", "a.b.c", "train.iterations=[unclosed", "name.x=1"])
def test_bad_set_overrides_name_the_recipe(tmp_path, override):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(_base(tmp_path / "out")))
    outcome = run_superres("train", path, "-q", "--set", override)
    assert outcome.code == 2 and outcome.err.startswith(f"error: {path}: "), outcome.err
