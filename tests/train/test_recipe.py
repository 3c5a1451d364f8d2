"""Recipes: loading, --set overrides, typed values and range checks."""

from __future__ import annotations

import pytest
import torch

from superres.cli import main
from superres.errors import SuperresError
from superres.train.checkpoint import CHECKPOINT_NAME
from superres.train.recipe import load_recipe
from tests.train.conftest import TINY


def test_recipe_overrides_and_errors(tmp_path):
    recipe = load_recipe(TINY, ["train.iterations=7", "data.batch_size=2", "train.optimizer.lr=0.01"])
    assert (recipe.train.iterations, recipe.data.batch_size, recipe.train.optimizer.lr) == (7, 2, 0.01)
    with pytest.raises(SuperresError, match=r"unknown key\(s\) train.iteratons"):
        load_recipe(TINY, ["train.iteratons=5"])
    with pytest.raises(SuperresError, match=r"data\.downscales must be a list, got 'oops'"):
        load_recipe(TINY, ["data.downscales=oops"])  # not a TypeError at train time
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnetwork: {arch: srvgg}\ndata: {scale: 2}\ntrain: {iterations: 1}\n")
    with pytest.raises(SuperresError, match=r"missing key\(s\) data.train"):
        load_recipe(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SuperresError, match="not valid YAML"):
        load_recipe(bad)


def test_recipe_numbers_are_typed(tmp_path):
    """Numbers are typed by the recipe's fields: ``--set train.optimizer.lr=2e-4`` is a float
    although YAML 1.1 reads it as the string '2e-4' (its floats need a dot)."""
    recipe = load_recipe(TINY, ["train.optimizer.lr=2e-4", "data.downscales=[5E-1, .7]", "train.grad_clip=1"])
    assert recipe.train.optimizer.lr == 2e-4 and recipe.data.downscales == [0.5, 0.7]
    assert isinstance(recipe.train.grad_clip, float)
    in_file = tmp_path / "lr.yaml"
    in_file.write_text(TINY.read_text().replace("lr: 1.0e-3", "lr: 1e-3"))
    assert load_recipe(in_file).train.optimizer.lr == 1e-3
    for override, message in [
        ("train.optimizer.lr=fast", r"train\.optimizer\.lr must be a number, got 'fast'"),
        ("train.iterations=1.5", r"train\.iterations must be an integer, got 1\.5"),
        ("train.iterations=true", r"train\.iterations must be an integer, got True"),
        ("data.augment=maybe", r"data\.augment must be true or false, got 'maybe'"),
        ("data.downscales=[0.5, half]", r"data\.downscales\[1\] must be a number, got 'half'"),
        ("name=1e3", r"name must be a string \(quote it\), got 1000\.0"),  # not a run named 1000.0
        ("data.train=[2024]", r"data\.train\[0\] must be a string \(quote it\), got 2024"),
    ]:
        with pytest.raises(SuperresError, match=message):
            load_recipe(TINY, [override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.downscales=[2]", "data.downscales must be factors between 0 and 1, got [2.0]"),
        ("data.patch_candidates=0", "data.patch_candidates must be at least 1, got 0"),
        ("train.precision=fp16", "train.precision must be fp32, bf16 or auto, got 'fp16'"),
        ("train.losses=[{type: mse, target: lr}]", "loss target must be hr or teacher, got 'lr'"),
        ("train.losses=[{type: mse, target: teacher}]", "a mse loss targets the teacher, but the recipe"),
        # These gave tracebacks (IndexError, ZeroDivisionError, RuntimeError, ValueError);
        # an EMA decay of 2 trained a diverging copy.
        ("data.batch_size=0", "data.batch_size must be at least 1, got 0"),
        ("data.patch_size=0", "data.patch_size must be at least 1, got 0"),
        ("data.scale=0", "data.scale must be at least 1, got 0"),
        ("data.workers=-1", "data.workers must be at least 0, got -1"),
        ("train.iterations=-1", "train.iterations must be at least 0, got -1"),
        ("train.optimizer.lr=-1", "train.optimizer.lr must be at least 0, got -1.0"),
        ("train.gan={optimizer: {lr: -1}}", "train.gan.optimizer.lr must be at least 0, got -1.0"),
        ("train.ema_decay=2", "train.ema_decay must be from 0 (off) to below 1, got 2.0"),
        ("train.grad_clip=-1", "train.grad_clip must be at least 0, got -1.0"),
        # A negative weight would maximise its loss
        ("train.losses=[{type: l1, weight: -1}]", "train.losses[0].weight must be at least 0, got -1.0"),
        ("train.gan={weight: -1}", "train.gan.weight must be at least 0, got -1.0"),
        ("train.schedule={type: cosine, warmup: -5}", "train.schedule.warmup must be at least 0, got -5"),
        ("train.schedule={type: multistep, gamma: -1}", "train.schedule.gamma must be above 0, got -1.0"),
        ("train.losses=[]", "train.losses is empty and the recipe has no GAN or perceptual loss"),
        ("data.channels=2", "data.channels must be 1 (gray) or 3 (RGB), got 2"),
        # Degradations: a zero blur sigma and no stages failed mid-training (LinAlgError,
        # IndexError); a clean_prob of 2 or a JPEG quality of 200 ran without a word.
        ("data.degradation={stages: []}", "data.degradation.stages must hold at least one stage"),
        (
            "data.degradation={stages: [{blur_sigma: [0, 0]}]}",
            "data.degradation.stages[0].blur_sigma must be [low, high] with 0 < low <= high, got [0.0, 0.0]",
        ),
        (
            "data.degradation={stages: [{jpeg_quality: [50, 200]}]}",
            "data.degradation.stages[0].jpeg_quality must be at most 100, got [50, 200]",
        ),
        ("data.degradation={clean_prob: 2}", "data.degradation.clean_prob must be from 0 to 1, got 2.0"),
    ],
)
def test_out_of_range_recipe_values_name_the_recipe_file(capsys, override, message):
    """Out-of-range values are refused when the recipe loads, so the one-line error names the
    recipe file as well as the key, and nothing has started training."""
    with pytest.raises(SuperresError) as caught:
        load_recipe(TINY, [override])
    assert str(caught.value).startswith(f"{TINY}: {message}")
    assert main(["train", str(TINY), "-q", "--set", override]) == 2  # bad usage
    assert capsys.readouterr().err.startswith(f"error: {TINY}: {message}")


@pytest.mark.slow
def test_repeated_set_options_all_apply(shared, tmp_path):
    """``--set a=1 --set b=2`` applies every group, not only the last."""
    data = shared / "data/train/T91"
    args = ["train", str(TINY), "-q", "--set", f"output={tmp_path}", "--set", "train.iterations=2",
            "val.sets=[]", "--set", f"data.train=[{data}]"]  # fmt: skip
    assert main(args) == 0
    state = torch.load(tmp_path / "tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert state["iteration"] == 2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # A name with a path in it wrote the run folder and the model file anywhere; an empty
        # one wrote into the output root.
        ("name=../../x", "name must be a plain file name, got '../../x'"),
        ("name=/tmp/elsewhere", "name must be a plain file name, got '/tmp/elsewhere'"),
        ("name=''", "name must be a plain file name, got ''"),
        ("name=..", "name must be a plain file name, got '..'"),
        ("network.params=5", "network.params must be a mapping of srvgg's parameters, got 5"),
        ("network.params=[1, 2]", "network.params must be a mapping of srvgg's parameters, got [1, 2]"),
        ("network.params={num_feat: -8}", "network.params.num_feat must be an integer from 1 to 1024, got -8"),  # noqa: E501
        ("network.params={num_feat: 0}", "network.params.num_feat must be an integer from 1 to 1024, got 0"),
        ("network.params={num_feat: eight}", "network.params.num_feat must be an integer from 1 to 1024"),
        ("network.params={num_feat: true}", "network.params.num_feat must be an integer from 1 to 1024"),
        ("network.params={num_conv: 100000000}", "network.params.num_conv must be an integer from 1 to 1024"),
        ("network.params={depth: 3}", "network.params.depth: srvgg has no such parameter; it takes"),
        ("network.params={act_type: 5}", "network.params.act_type must be a string, got 5"),
        ("network.params={act_type: swish}", "network.params: srvgg cannot be built with these"),
        ("network.arch=nonet", "network.arch: unknown network 'nonet'"),
        ("train.optimizer.betas=[0.9]", "train.optimizer.betas must be two numbers from 0 to below 1, got [0.9]"),  # noqa: E501
        ("train.optimizer.betas=[2, 5]", "train.optimizer.betas must be two numbers from 0 to below 1"),
        ("train.optimizer.weight_decay=-1", "train.optimizer.weight_decay must be at least 0, got -1.0"),
        ("train.optimizer.lr=1e300", "train.optimizer.lr must be at most 1, got 1e+300"),
        ("train.optimizer.lr=.inf", "train.optimizer.lr must be a finite number, got inf"),
        ("train.gan={optimizer: {betas: [0.5]}}", "train.gan.optimizer.betas must be two numbers"),
        ("data.batch_size=1e8", "data.batch_size must be an integer, got 100000000.0"),
        ("data.batch_size=100000000", "data.batch_size must be at most 4096, got 100000000"),
        ("data.patch_size=100000", "data.patch_size must be at most 2048, got 100000"),
        ("train.seed=-1", "train.seed must be at least 0, got -1"),
        ("train.gan={discriminator_params: {num_feat: -1}}",
         "train.gan.discriminator_params.num_feat must be an integer from 1 to 1024, got -1"),
        ("train.gan={discriminator_params: 3}", "train.gan.discriminator_params must be a mapping"),
    ],
)
def test_hostile_recipe_values_are_refused_at_load_naming_file_and_key(capsys, override, message):
    with pytest.raises(SuperresError) as caught:
        load_recipe(TINY, [override])
    assert str(caught.value).startswith(f"{TINY}: {message}"), str(caught.value)
    assert main(["train", str(TINY), "-q", "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {TINY}: {message}") and err.count("\n") == 1, err


def test_non_utf8_and_duplicate_keys_are_refused_naming_the_recipe(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\x00garbage\n")
    with pytest.raises(SuperresError, match=r"binary\.yaml: not UTF-8 text"):
        load_recipe(binary)
    twice = tmp_path / "twice.yaml"
    twice.write_text(TINY.read_text().replace("train:\n", "train:\n  iterations: 5\n", 1))
    with pytest.raises(SuperresError, match=r"twice\.yaml: not valid YAML \(key 'iterations' appears twice"):
        load_recipe(twice)
    # A merge key (<<) may set a key the mapping sets again: that is not a duplicate
    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &b {lr: 0.1}\n" + TINY.read_text().replace(
        "optimizer: {type: adam, lr: 1.0e-3}", "optimizer: {<<: *b, lr: 1.0e-3}"))
    with pytest.raises(SuperresError, match=r"unknown key\(s\) base"):
        load_recipe(merged)
