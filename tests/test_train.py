"""Training: recipe handling, stateless data, exact resume, safe checkpoints, export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from superres.cli import main
from superres.data import IterationBatches, PairedPatches, PatchSpec
from superres.errors import SuperresError
from superres.io import ImageData, read_image, write_image
from superres.metrics import mod_crop
from superres.train.recipe import ScheduleConfig, load_recipe
from superres.train.trainer import (
    CHECKPOINT_NAME,
    TrainingStoppedError,
    _cached_teacher,
    _load_teacher,
    hardware_description,
    learning_rate,
    train,
)
from superres.weights import load_network, read_metadata
from tests.conftest import requantised_folder

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes/tiny-test.yaml"


def _tiny(tmp_path, shared, *overrides):
    data, val = shared / "data/train/T91", shared / "data/test/Set5"
    return load_recipe(TINY, [f"output={tmp_path}", f"data.train=[{data}]", f"val.sets=[{val}]", *overrides])


def test_recipe_overrides_and_errors(tmp_path):
    recipe = load_recipe(TINY, ["train.iterations=7", "data.batch_size=2", "train.optimizer.lr=0.01"])
    assert (recipe.train.iterations, recipe.data.batch_size, recipe.train.optimizer.lr) == (7, 2, 0.01)
    with pytest.raises(SuperresError, match=r"unknown key\(s\) train.iteratons"):
        load_recipe(TINY, ["train.iteratons=5"])
    with pytest.raises(SuperresError, match=r"data\.downscales must be a list, got 'oops'"):
        load_recipe(TINY, ["data.downscales=oops"])  # was a TypeError traceback at train time
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnetwork: {arch: srvgg}\ndata: {scale: 2}\ntrain: {iterations: 1}\n")
    with pytest.raises(SuperresError, match=r"missing key\(s\) data.train"):
        load_recipe(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SuperresError, match="not valid YAML"):
        load_recipe(bad)


def test_recipe_numbers_are_typed(tmp_path):
    """``--set train.optimizer.lr=2e-4`` was read as the string '2e-4' (YAML 1.1 floats need a
    dot) and training crashed at its first step with a TypeError in the schedule."""
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
        ("name=1e3", r"name must be a string \(quote it\), got 1000\.0"),  # was a run named 1000.0
        ("data.train=[2024]", r"data\.train\[0\] must be a string \(quote it\), got 2024"),
    ]:
        with pytest.raises(SuperresError, match=message):
            load_recipe(TINY, [override])


def test_learning_rate_schedules():
    assert learning_rate(ScheduleConfig("multistep", [10, 20], 0.5), 1.0, 9, 30) == 1.0
    assert learning_rate(ScheduleConfig("multistep", [10, 20], 0.5), 1.0, 25, 30) == 0.25
    cosine = ScheduleConfig("cosine", min_lr=0.0)
    assert learning_rate(cosine, 1.0, 0, 100) == 1.0 and learning_rate(cosine, 1.0, 50, 100) == pytest.approx(
        0.5
    )
    assert learning_rate(ScheduleConfig("constant", warmup=4), 1.0, 1, 100) == 0.5


def test_patches_are_stateless_aligned_and_sharded(shared):
    spec = PatchSpec(scale=2, patch_size=16)
    a = PairedPatches([shared / "data/train/T91"], spec, seed=3)
    b = PairedPatches([shared / "data/train/T91"], spec, seed=3)
    lr, hr = a[12345]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
    assert torch.equal(lr, b[12345][0]) and not torch.equal(lr, a[12346][0])
    # the LR patch is the bicubic downscale of the HR patch (up to border effects of the crop)
    from superres.resize import imresize

    inner = (imresize(hr.double() * 255, scale=0.5) - lr.double() * 255)[:, 3:-3, 3:-3]
    assert inner.abs().mean() < 1.0
    one = list(IterationBatches(5, 7, batch_size=4))
    ranks = [list(IterationBatches(5, 7, batch_size=2, rank=r, world_size=2)) for r in (0, 1)]
    assert one == [ranks[0][i] + ranks[1][i] for i in range(2)]


def test_downscaled_copies_enlarge_the_training_set(shared, tmp_path):
    """data.downscales: each HR image also shrunk (MATLAB bicubic), with its own bicubic LR."""
    from superres.resize import imresize

    spec = PatchSpec(scale=2, patch_size=16)
    copies = PairedPatches([shared / "data/train/T91"], PatchSpec(2, 40), downscales=(0.5, 0.8))
    assert len(copies) + len(copies.skipped) == 3 * 91  # 91 images, 2 copies each
    assert any(name.endswith("@0.5") for name in copies.skipped)  # copies are named NAME@FACTOR
    one = tmp_path / "one"
    one.mkdir()
    os.symlink(sorted((shared / "data/train/BSD200").glob("*.png"))[0], one / "a.png")
    _, half = PairedPatches([one], spec, downscales=(0.5,)).hr  # the image, then its 0.5 copy
    original = torch.from_numpy(read_image(one / "a.png").pixels.astype(np.float64)).permute(2, 0, 1)
    expected = imresize(original, scale=0.5, uint8_path=True)  # shrunk before the mod-crop
    expected = expected.permute(1, 2, 0).numpy()
    assert half.shape[0] == expected.shape[0] // 2 * 2 and half.shape[1] == expected.shape[1] // 2 * 2
    assert np.array_equal(half, expected[: half.shape[0], : half.shape[1]])
    for wrong in ((1.5,), ("0.5",)):
        with pytest.raises(SuperresError, match="between 0 and 1"):
            PairedPatches([shared / "data/train/T91"], spec, downscales=wrong)
    recipe = _tiny(tmp_path, shared, "data.downscales=[0.7]", "train.iterations=2", "val.sets=[]")
    _, card = train(recipe, progress=False)
    assert card["training"]["images"]["used"] + card["training"]["images"]["too_small_for_the_patch"] == 182


def test_patch_candidates_keep_the_most_detailed_crop(tmp_path):
    """data.patch_candidates: of N random crops the most detailed is kept, so half-flat images
    give textured patches far more often than uniform sampling's half of the time."""
    from PIL import Image

    from superres.data import detail

    rng = np.random.default_rng(0)
    image = np.full((64, 128, 3), 128, np.uint8)
    image[:, 64:] = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # right half: noise
    folder = tmp_path / "half"
    folder.mkdir()
    Image.fromarray(image).save(folder / "half.png")

    def textured_share(candidates: int) -> float:
        patches = PairedPatches([folder], PatchSpec(2, 8, augment=False, patch_candidates=candidates))
        hr = [patches[k][1] for k in range(200)]
        return float(np.mean([p[:, :, -1].std() > 0.01 for p in hr]))  # right column in the noise

    assert 0.3 < textured_share(1) < 0.7
    assert textured_share(4) > 0.85
    flat, busy = image[:16, :16], image[:16, -16:]
    assert detail(flat) == 0.0 and detail(busy) > 50
    with pytest.raises(SuperresError, match="patch_candidates must be at least 1"):
        PairedPatches([folder], PatchSpec(2, 8, patch_candidates=0))


def test_y_mse_is_the_benchmarks_luma_error():
    """y_mse: the MSE of the Y that Y-PSNR measures, blind to colour changes that keep Y."""
    from torch.nn import functional as F

    from superres.metrics import rgb_to_y
    from superres.train.losses import pixel_loss

    y_mse = pixel_loss("y_mse")
    a, b = torch.rand(2, 2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    as_y = lambda t: rgb_to_y(t.permute(0, 2, 3, 1).numpy() * 255)  # noqa: E731
    assert float(y_mse(a, b)) == pytest.approx(np.mean((as_y(a) - as_y(b)) ** 2) / 255**2, rel=1e-9)
    w = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64)
    colour_only = torch.stack([w[1], -w[0], torch.tensor(0.0, dtype=torch.float64)]) / 1000  # w . it = 0
    shifted = a + colour_only.view(1, 3, 1, 1)
    assert float(y_mse(a, shifted)) < 1e-20 < float(F.mse_loss(a, shifted))
    assert float(y_mse(a[:, :1], b[:, :1])) == float(F.mse_loss(a[:, :1], b[:, :1]))  # gray: as is


def test_psnr_loss_is_minus_the_mean_per_sample_psnr():
    """psnr: minus the benchmarks' per-image mean PSNR over the batch, capped at 50 dB, so a
    sample's gradient scales with 1 / its error (MSE weighs the worst sample most)."""
    from superres.metrics import psnr as metric_psnr
    from superres.train.losses import pixel_loss

    loss = pixel_loss("psnr")
    rng = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=rng)
    sigma = torch.tensor([0.01, 0.1], dtype=torch.float64).view(2, 1, 1, 1)
    noise = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=rng) * sigma
    prediction = (target + noise).clamp(0, 1)
    as_image = lambda t: t.permute(1, 2, 0).numpy() * 255  # noqa: E731
    pairs = zip(prediction, target, strict=True)
    per_image = [metric_psnr(as_image(p), as_image(t), y_channel=False) for p, t in pairs]
    capped = [-10 * np.log10(10 ** (-p / 10) + 1e-5) for p in per_image]  # PSNR of MSE + eps
    assert float(loss(prediction, target)) == pytest.approx(-np.mean(capped), rel=1e-9)
    assert abs(capped[1] - per_image[1]) < 0.01  # eps barely moves a typical 20-30 dB sample
    assert float(loss(target, target)) == pytest.approx(-50.0)  # a perfect sample: the 50 dB ceiling

    prediction.requires_grad_(True)
    loss(prediction, target).backward()
    gradient_norm = prediction.grad.flatten(1).norm(dim=1)
    assert gradient_norm[0] > 5 * gradient_norm[1]  # the 10x smaller error pulls harder


def test_teacher_patch_is_the_teachers_output_cropped_and_turned_like_the_hr_patch(tmp_path):
    """data.teacher: each sample carries the teacher's output for its LR image, cut from the
    same window and given the same flip and rotation as the HR patch. A nearest-neighbour
    teacher commutes with flips and rotations, so its patch must equal the LR patch enlarged."""
    from PIL import Image

    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(folder / "a.png")
    calls = []

    def nearest(lr: np.ndarray) -> np.ndarray:
        calls.append(lr.shape)
        return lr.repeat(2, axis=0).repeat(2, axis=1) / 255

    patches = PairedPatches([folder], PatchSpec(2, 8), teacher=nearest, downscales=(0.5,))
    assert calls == [(20, 28, 3), (10, 14, 3)]  # once per LR image, before training
    for k in range(20):
        lr, hr, taught = patches[k]
        assert taught.shape == hr.shape == (3, 16, 16) and taught.dtype == torch.float32
        enlarged = lr.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
        assert torch.allclose(taught, enlarged, atol=1e-3)  # kept as float16
    assert len(PairedPatches([folder], PatchSpec(2, 8))[0]) == 2  # no teacher: (LR, HR) as before
    with pytest.raises(SuperresError, match=r"data\.teacher needs fixed LR images"):
        from superres.degradations import DegradationConfig

        PairedPatches([folder], PatchSpec(2, 8), teacher=nearest, degradation=DegradationConfig())


def test_teacher_outputs_are_cached_by_teacher_and_image(tmp_path):
    """A resumed distillation run recomputed every teacher output (7-12 minutes for the 291
    images at x4 and x3). The cache answers a repeated image from disk, and is keyed by the
    teacher's identity and the image's content, so another teacher or image is computed afresh."""
    calls = []

    def teacher(lr: np.ndarray) -> np.ndarray:
        calls.append(lr.shape)
        return lr.repeat(2, axis=0).repeat(2, axis=1) / 255

    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(2))
    first = _cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)
    out = first(a)
    assert out.dtype == np.float16 and np.allclose(out, teacher(a), atol=1e-3)
    calls.clear()
    again = _cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)  # as after a resume
    assert np.array_equal(again(a), out) and calls == []
    again(b)
    _cached_teacher(teacher, "teacher-2", tmp_path / "cache", 2)(a)
    assert calls == [(6, 5, 3), (6, 5, 3)]
    assert sorted(f.suffix for f in (tmp_path / "cache").iterdir()) == [".npy"] * 3  # no partial files


def test_a_damaged_teacher_cache_entry_is_computed_again(tmp_path, capsys):
    """A cache file cut short or overwritten by hand used to stop the run with numpy's own
    error; the entry is now computed again, replaced, and the file named."""
    teacher = lambda lr: lr.repeat(2, axis=0).repeat(2, axis=1) / 255  # noqa: E731
    lr = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    cached = _cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)
    expected = cached(lr)
    (entry,) = (tmp_path / "cache").iterdir()
    entry.write_bytes(entry.read_bytes()[:20])
    assert np.array_equal(cached(lr), expected)
    assert f"{entry}: unreadable teacher cache entry" in capsys.readouterr().out
    assert np.array_equal(np.load(entry), expected)  # replaced, so the next read is clean


@pytest.mark.parametrize("stored", [np.zeros((12, 8, 3), np.float16), np.zeros((12, 10, 3), np.float32)])
def test_a_teacher_cache_entry_of_the_wrong_shape_or_type_is_computed_again(tmp_path, capsys, stored):
    """A readable entry that is not the scale-times-larger float16 image (replaced by hand)
    used to be returned as the target, cropped wherever it fitted."""
    teacher = lambda lr: lr.repeat(2, axis=0).repeat(2, axis=1) / 255  # noqa: E731
    lr = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    cached = _cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)
    expected = cached(lr)
    (entry,) = (tmp_path / "cache").iterdir()
    np.save(entry, stored)
    assert np.array_equal(cached(lr), expected)
    assert f"{entry}: unreadable teacher cache entry (holds a {stored.dtype} array" in capsys.readouterr().out
    assert np.array_equal(np.load(entry), expected)


def test_teacher_identity_covers_weights_and_tta(shared, tmp_path):
    from superres.archs import build_network
    from superres.weights import save_network

    params = {"scale": 2, "num_feat": 8, "num_conv": 2}
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_network(tmp_path / f"t{seed}.safetensors", build_network("srvgg", **params), "srvgg", params)

    def identity(*overrides: str) -> str:
        return _load_teacher(_tiny(tmp_path, shared, *overrides), torch.device("cpu"))[1]

    same = identity(f"data.teacher={tmp_path / 't0.safetensors'}")
    assert identity(f"data.teacher={tmp_path / 't0.safetensors'}") == same
    assert identity(f"data.teacher={tmp_path / 't1.safetensors'}") != same
    assert identity(f"data.teacher={tmp_path / 't0.safetensors'}", "data.teacher_tta=false") != same


def test_distillation_trains_towards_the_teacher(shared, tmp_path):
    """Losses with ``target: teacher`` compare the output with the teacher's, not the HR patch.
    The teacher here brightens by 0.2 (an SRVGG network whose last conv is only a bias, so it
    outputs the nearest-neighbour upscale plus 0.2): a student taught by it learns to brighten,
    one taught by the HR images does not."""
    from superres.archs import build_network
    from superres.evaluate import make_lr
    from superres.models import load_model
    from superres.weights import save_network

    params = {"scale": 2, "num_feat": 8, "num_conv": 2}
    brighter = build_network("srvgg", **params)
    torch.nn.init.zeros_(brighter.body[-1].weight)
    torch.nn.init.constant_(brighter.body[-1].bias, 0.2)
    save_network(tmp_path / "brighter.safetensors", brighter, "srvgg", params)

    def student(target: str):
        losses = f"train.losses=[{{type: mse, target: {target}}}]"
        recipe = _tiny(tmp_path / target, shared, f"data.teacher={tmp_path / 'brighter.safetensors'}",
                       "val.sets=[]", losses, "train.iterations=40")  # fmt: skip
        return train(recipe, progress=False)

    path, card = student("teacher")
    assert card["training"]["teacher"] == {"model": str(tmp_path / "brighter.safetensors"), "tta": True}
    assert card["training"]["losses"] == [{"type": "mse", "weight": 1.0, "target": "teacher"}]
    assert "mse_teacher" in (path.parent / "log.jsonl").read_text()
    assert any((path.parent / "teacher_cache").glob("*.npy"))  # what a resume reads back
    hr_path, _ = student("hr")
    hr = read_image(shared / "data/test/Set5/baby.png").pixels[:256, :256]
    x = torch.from_numpy(make_lr(hr, 2).transpose(2, 0, 1).copy())[None].float() / 255
    taught, from_hr = (float(load_model(p)(x).mean() - x.mean()) for p in (path, hr_path))
    assert taught > 0.1 and abs(from_hr) < 0.05, (taught, from_hr)


def test_tiny_recipe_trains_validates_and_exports(shared, tmp_path, capsys):
    recipe = _tiny(tmp_path, shared)
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


def test_resume_is_exact(shared, tmp_path):
    straight = _tiny(
        tmp_path / "a", shared, "train.iterations=12", "train.checkpoint_interval=100", "val.sets=[]"
    )
    train(straight, progress=False)
    halves = _tiny(
        tmp_path / "b", shared, "train.iterations=12", "train.checkpoint_interval=100", "val.sets=[]"
    )
    path, info = train(halves, progress=False, stop_after=6)
    assert path is None and info["stopped_at"] == 6
    train(halves, resume=True, progress=False)
    a = torch.load(tmp_path / "a/tiny-test" / CHECKPOINT_NAME, weights_only=True)
    b = torch.load(tmp_path / "b/tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert a["iteration"] == b["iteration"] == 12
    for part in ("network", "ema"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for i, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], b["optimizer"]["state"][i]["exp_avg"])


def test_refuses_to_clobber_or_resume_nothing(shared, tmp_path):
    recipe = _tiny(tmp_path, shared, "train.iterations=2", "val.sets=[]")
    with pytest.raises(SuperresError, match="nothing to resume"):
        train(recipe, resume=True, progress=False)
    train(recipe, progress=False)
    with pytest.raises(SuperresError, match="already holds a checkpoint"):
        train(recipe, progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(shared, tmp_path, monkeypatch):
    import superres.train.trainer as trainer

    recipe = _tiny(tmp_path, shared, "train.iterations=10", "train.checkpoint_interval=3", "val.sets=[]")
    calls = {"n": 0}
    l1 = torch.nn.functional.l1_loss

    def exploding(prediction, target):
        calls["n"] += 1
        return l1(prediction, target) * (float("nan") if calls["n"] == 5 else 1.0)

    monkeypatch.setattr(trainer, "pixel_loss", lambda name: exploding)
    with pytest.raises(TrainingStoppedError, match=r"non-finite loss \(nan\) at iteration 5.*iteration 3\)"):
        train(recipe, progress=False)
    state = torch.load(tmp_path / "tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert state["iteration"] == 3 and all(torch.isfinite(v).all() for v in state["network"].values())


def test_kill_during_training_never_corrupts_the_checkpoint(shared, tmp_path):
    """SIGKILL a run that checkpoints every iteration; the checkpoint left behind loads."""
    args = [sys.executable, "-m", "superres", "train", str(TINY), "-q", "--set", f"output={tmp_path}",
            f"data.train=[{shared / 'data/train/T91'}]", "val.sets=[]", "train.iterations=100000",
            "train.checkpoint_interval=1"]  # fmt: skip
    process = subprocess.Popen(args, cwd=ROOT)
    checkpoint = tmp_path / "tiny-test" / CHECKPOINT_NAME
    deadline = time.time() + 60
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # let it write many more checkpoints, then kill it mid-stream
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    state = torch.load(checkpoint, weights_only=True)
    assert state["iteration"] >= 1 and np.isfinite(state["elapsed"])


def test_tensorboard_logging_is_optional(tmp_path):
    from superres.train.trainer import _tensorboard_writer

    writer = _tensorboard_writer(tmp_path)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert writer is None  # training goes on without it
        return
    writer.add_scalar("train/l1", 0.5, 1)
    writer.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_reparameterisable_network_is_exported_folded(shared, tmp_path):
    network = "network={arch: ecbsr, params: {num_feat: 8, num_block: 2}}"
    recipe = _tiny(tmp_path, shared, network, "val.sets=[]", "train.iterations=2")
    path, card = train(recipe, progress=False)
    from superres.weights import read_metadata

    meta = read_metadata(path)
    assert meta["arch"] == "srvgg" and card["trained_as"]["arch"] == "ecbsr"
    state = torch.load(tmp_path / "tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert state["arch"] == "ecbsr"  # the checkpoint keeps the training-time branches for fine-tuning


def test_bf16_channels_last_training_tracks_fp32(shared, tmp_path):
    """bf16 autocast changes the arithmetic (so the weights differ) but not what is learnt."""
    fp32_path, fp32 = train(
        _tiny(tmp_path / "a", shared, "train.iterations=40", "val.interval=40"), progress=False
    )
    fast = _tiny(tmp_path / "b", shared, "train.iterations=40", "val.interval=40", "train.precision=bf16",
                 "train.channels_last=true")  # fmt: skip
    bf16_path, bf16 = train(fast, progress=False)
    assert bf16["training"]["precision"] == "bf16"
    a, b = (load_network(p)[0].state_dict()["body.0.weight"] for p in (fp32_path, bf16_path))
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=0.05)
    assert abs(bf16["metrics"]["Set5"]["psnr"] - fp32["metrics"]["Set5"]["psnr"]) < 0.05  # 30.85 both


def test_bf16_on_a_cpu_without_native_bf16_warns(shared, tmp_path, capsys, monkeypatch):
    """The shipped recipes ask for bf16, which trained 1.4-2x faster on an AVX-512 BF16 CPU but
    several times slower than fp32 on an AVX2 one, with no word why."""
    from superres.train import trainer

    for native in (False, True):
        monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda native=native: native)
        overrides = ("train.precision=bf16", "train.iterations=1", "val.sets=[]")
        recipe = _tiny(tmp_path / str(native), shared, *overrides)
        train(recipe, progress=False)
        warned = "this CPU has no native bf16" in capsys.readouterr().out
        assert warned == (not native)


def test_auto_precision_is_bf16_only_where_the_cpu_has_it(shared, tmp_path, capsys, monkeypatch):
    """Recipes that said bf16 trained about 10x slower than fp32 on CPUs without native bf16;
    ``auto`` picks per machine, and the card records what was used."""
    from superres.train import trainer

    for native in (False, True):
        monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda native=native: native)
        overrides = ("train.precision=auto", "train.iterations=1", "val.sets=[]")
        _, card = train(_tiny(tmp_path / str(native), shared, *overrides), progress=False)
        out = capsys.readouterr().out
        assert card["training"]["precision"] == ("bf16" if native else "fp32")
        assert f"train.precision auto: {card['training']['precision']} on this cpu" in out
        assert "no native bf16" not in out


def test_pretrained_may_name_a_shipped_model(shared, tmp_path, monkeypatch):
    """Recipes could start only from a path (superres/pretrained/NAME.safetensors, true only
    in a checkout run from its root); a shipped model's name now works wherever superres is."""
    from superres.models import shipped_weights
    from superres.weights import load_network

    monkeypatch.chdir(tmp_path)  # no superres/pretrained/ here
    overrides = ("network.pretrained=compact-x2", "network.params={num_feat: 48, num_conv: 8}")
    overrides += ("train.optimizer.lr=0", "train.iterations=1", "val.sets=[]")
    path, card = train(_tiny(tmp_path, shared, *overrides), progress=False)
    shipped = load_network(shipped_weights()["compact-x2"])[0].state_dict()
    assert card["training"]["pretrained"] == "compact-x2"
    assert all(torch.equal(value, shipped[key]) for key, value in load_network(path)[0].state_dict().items())


def test_a_bad_start_with_a_teacher_leaves_no_run_folder(shared, tmp_path, monkeypatch):
    """The teacher's output cache is written into the run folder, so every check (here the
    pretrained weights) must come before the teacher runs, or a failed start leaves a folder."""
    from superres.train import trainer

    calls = []
    counting = lambda *args: calls.append(args) or _cached_teacher(*args)  # noqa: E731
    monkeypatch.setattr(trainer, "_cached_teacher", counting)
    missing = tmp_path / "none.safetensors"
    recipe = _tiny(tmp_path, shared, "data.teacher=bicubic", f"network.pretrained={missing}")
    with pytest.raises(SuperresError, match=r"none\.safetensors"):
        train(recipe, progress=False)
    assert not recipe.run_dir.exists() and calls == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.schedule.type=linear", r"unknown schedule 'linear'"),
        ("train.optimizer.type=sgd", r"unknown optimizer 'sgd'"),
        ("train.losses=[{type: l3}]", r"unknown loss 'l3'"),
        ("network.arch=rcan", r"unknown network 'rcan'"),
        ("train.gan={loss: wgan}", r"unknown GAN loss 'wgan'"),
        ("train.gan={discriminator: patchgan}", r"unknown discriminator 'patchgan'"),
        ("data.train=[no/such/folder]", r"no/such/folder"),
        ("network.pretrained_deepen=true", r"network\.pretrained_deepen needs network\.pretrained"),
        ("data.teacher=compact64-x4-mse", r"data\.teacher is x4 with 3 input channels, the recipe trains x2"),
        ("data.teacher=no-such-model", r"data\.teacher: no model or weights file named 'no-such-model'"),
        ("val.sets=[no/such/set]", r"no/such/set: val\.sets: no such folder"),  # was found after training
    ],
)
def test_bad_recipe_values_stop_before_the_run_folder(shared, tmp_path, override, message):
    """These were found only once training started, after the run folder and its recipe.yaml
    were written (and an unknown schedule only after warm-up)."""
    recipe = _tiny(tmp_path, shared, "train.schedule.warmup=5", override)
    with pytest.raises(SuperresError, match=message):
        train(recipe, progress=False)
    assert not recipe.run_dir.exists()


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
        # These trained without a word (a negative weight maximises its loss) or gave a traceback
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
    """These were raised once training had started (patch sampling, the trainer's checks), so
    the one-line error named the key but not the recipe file it came from."""
    with pytest.raises(SuperresError) as caught:
        load_recipe(TINY, [override])
    assert str(caught.value).startswith(f"{TINY}: {message}")
    assert main(["train", str(TINY), "-q", "--set", override]) == 1
    assert capsys.readouterr().err.startswith(f"error: {TINY}: {message}")


def test_repeated_set_options_all_apply(shared, tmp_path):
    """``--set a=1 --set b=2`` used to keep only the last group, so the output folder was lost."""
    data = shared / "data/train/T91"
    args = ["train", str(TINY), "-q", "--set", f"output={tmp_path}", "--set", "train.iterations=2",
            "val.sets=[]", "--set", f"data.train=[{data}]"]  # fmt: skip
    assert main(args) == 0
    state = torch.load(tmp_path / "tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert state["iteration"] == 2


def test_resume_drops_log_records_the_killed_run_wrote_after_its_checkpoint(shared, tmp_path):
    recipe = _tiny(tmp_path, shared, "train.iterations=8", "train.log_interval=2", "val.sets=[]")
    train(recipe, progress=False, stop_after=4)
    log = tmp_path / "tiny-test/log.jsonl"
    with open(log, "a") as f:  # what a run killed at iteration 7 had logged past checkpoint 4
        f.write(json.dumps({"iteration": 6, "l1": 1.0}) + "\n")
    train(recipe, resume=True, progress=False)
    iterations = [json.loads(line)["iteration"] for line in log.read_text().splitlines()]
    assert iterations == [2, 4, 6, 8]


def test_images_smaller_than_the_patch_are_reported_and_counted_in_the_card(shared, tmp_path, capsys):
    """51 of T91's 91 images are under 192 pixels on a side; they used to be dropped silently."""
    recipe = _tiny(tmp_path, shared, "data.patch_size=96", "train.iterations=2", "val.sets=[]")
    _, card = train(recipe, progress=False)
    assert card["training"]["images"] == {"used": 40, "too_small_for_the_patch": 51}
    assert "51 of 91 training images are smaller than the 192-pixel HR patch" in capsys.readouterr().out
    _, card = train(_tiny(tmp_path / "b", shared, "train.iterations=2", "val.sets=[]"), progress=False)
    assert card["training"]["images"] == {"used": 91, "too_small_for_the_patch": 0}
    assert "smaller than" not in capsys.readouterr().out


def test_hardware_description_counts_threads():
    """Cards of one-thread runs said '1 threads'."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert hardware_description(torch.device("cpu")).endswith(", 1 thread")
        torch.set_num_threads(2)
        assert hardware_description(torch.device("cpu")).endswith(", 2 threads")
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("peak", [4095, 65535])
def test_16_bit_images_train_as_inference_scales_them(shared, tmp_path, peak):
    """Training refused 16-bit images; they now give the same 0..1 patches as the 8-bit
    originals (12-bit data by its 4095, as inference maps it), their copies and LR alike."""
    source = shared / "data/train/BSD200"
    eight = PairedPatches(
        [requantised_folder(source, tmp_path / "t8", 255, 3)], PatchSpec(2, 24), downscales=(0.7,)
    )
    sixteen = PairedPatches(
        [requantised_folder(source, tmp_path / "t16", peak, 3)], PatchSpec(2, 24), downscales=(0.7,)
    )
    assert len(sixteen) == 6 and sixteen.hr[0].dtype == np.uint16 and sixteen.peak[0] == peak
    for k in range(6):
        (lr8, hr8), (lr16, hr16) = eight[k], sixteen[k]
        # The 8-bit set's downscaled copies and LR images were rounded to 8 bits, these not.
        assert (hr16 - hr8).abs().max() <= 1.5 / 255 and (lr16 - lr8).abs().max() <= 1.5 / 255
        assert hr16.max() <= 1 and lr16.max() <= 1  # copies and LR stay within the bit depth


def test_a_downscaled_copys_lr_keeps_the_source_bit_depth(tmp_path):
    """A 12-bit image's 0.5x copy can peak below 2048; its LR image's overshoot was clipped
    at 2047 (the copy's own bit depth), not at the source's 4095."""
    image = np.zeros((96, 96, 3), np.uint16)
    image[:, 48:] = 2020  # a step whose bicubic overshoot crosses 2047 only in the copy's LR
    image[0, 0] = 4095  # 12-bit data
    (tmp_path / "t").mkdir()
    write_image(tmp_path / "t" / "step.png", ImageData(image))
    patches = PairedPatches([tmp_path / "t"], PatchSpec(2, 24), downscales=(0.5,))
    copy, copy_lr = patches.hr[1], patches.lr[1]
    assert copy.max() < 2048 and patches.peak[1] == 4095
    assert copy_lr.max() > 2047


def test_a_16_bit_run_validates_on_16_bit_images(shared, tmp_path):
    """Evaluation (and so validation) refused 16-bit images."""
    train16 = requantised_folder(shared / "data/train/BSD200", tmp_path / "t16", 4095, 3)
    val16 = requantised_folder(shared / "data/test/Set5", tmp_path / "v16", 4095, 2)
    recipe = load_recipe(TINY, [f"output={tmp_path}", f"data.train=[{train16}]", f"val.sets=[{val16}]"])
    train(recipe, progress=False)
    card = read_metadata(recipe.run_dir / f"{recipe.name}.safetensors")["card"]
    assert 25 < card["metrics"]["v16"]["psnr"] < 45


@pytest.mark.parametrize("peak", [4095, 65535])
def test_one_channel_training_takes_16_bit_gray_and_colour(shared, tmp_path, peak):
    """A 1-channel network (data.channels: 1) could not be trained on 16-bit images, the
    usual case for CT, MR and X-ray. Gray is taken as it is; colour gives its Y, in the
    units of the bit depth in use, matching the 8-bit Y to within rounding."""
    source = shared / "data/train/BSD200"
    spec = PatchSpec(2, 24, channels=1)
    eight = PairedPatches([requantised_folder(source, tmp_path / "c8", 255, 3)], spec)
    colour = PairedPatches([requantised_folder(source, tmp_path / "c16", peak, 3)], spec)
    assert colour.hr[0].dtype == np.uint16 and colour.hr[0].shape[2] == 1 and colour.peak[0] <= peak
    for k in range(3):
        (_, hr8), (_, hr16) = eight[k], colour[k]
        assert (hr16 - hr8).abs().max() <= 1.5 / 255
    gray16 = tmp_path / "g16"
    gray16.mkdir()
    for path in sorted(source.iterdir())[:3]:
        y = np.round(read_image(path).pixels[:, :, :1].astype(np.float64) * peak / 255).astype(np.uint16)
        write_image(gray16 / path.name, ImageData(y))
    gray = PairedPatches([gray16], spec)
    sources = [mod_crop(read_image(p).pixels, 2) for p in sorted(gray16.iterdir())]
    assert all(np.array_equal(hr, source) for hr, source in zip(gray.hr, sources, strict=True))  # as it is
    recipe = _tiny(
        tmp_path, shared, f"data.train=[{gray16}]", "data.channels=1", "train.iterations=2", "val.sets=[]"
    )
    path, _ = train(recipe, progress=False)
    assert load_network(path)[0].in_channels == 1
