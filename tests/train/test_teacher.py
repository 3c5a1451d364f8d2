"""Distillation: the teacher, its identity and its output cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.errors import SuperresError
from superres.io import read_image
from superres.train.teacher import cached_teacher, load_teacher
from superres.train.trainer import train
from tests.train.conftest import tiny


def test_teacher_outputs_are_cached_by_teacher_and_image(tmp_path):
    """The cache spares a resumed distillation run the teacher's work (7-12 minutes for the 291
    images at x4 and x3): it answers a repeated image from disk, and is keyed by the
    teacher's identity and the image's content, so another teacher or image is computed afresh."""
    calls = []

    def teacher(lr: np.ndarray) -> np.ndarray:
        calls.append(lr.shape)
        return lr.repeat(2, axis=0).repeat(2, axis=1) / 255

    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(2))
    first = cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)
    out = first(a)
    assert out.dtype == np.float16 and np.allclose(out, teacher(a), atol=1e-3)
    calls.clear()
    again = cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)  # as after a resume
    assert np.array_equal(again(a), out) and calls == []
    again(b)
    cached_teacher(teacher, "teacher-2", tmp_path / "cache", 2)(a)
    assert calls == [(6, 5, 3), (6, 5, 3)]
    assert sorted(f.suffix for f in (tmp_path / "cache").iterdir()) == [".npy"] * 3  # no partial files


def test_a_damaged_teacher_cache_entry_is_computed_again(tmp_path, capsys):
    """A cache file cut short or overwritten by hand is named, computed again and replaced,
    rather than stopping the run with numpy's own error."""
    teacher = lambda lr: lr.repeat(2, axis=0).repeat(2, axis=1) / 255  # noqa: E731
    lr = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    cached = cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)
    expected = cached(lr)
    (entry,) = (tmp_path / "cache").iterdir()
    entry.write_bytes(entry.read_bytes()[:20])
    assert np.array_equal(cached(lr), expected)
    assert f"{entry}: unreadable teacher cache entry" in capsys.readouterr().out
    assert np.array_equal(np.load(entry), expected)  # replaced, so the next read is clean


@pytest.mark.parametrize("stored", [np.zeros((12, 8, 3), np.float16), np.zeros((12, 10, 3), np.float32)])
def test_a_teacher_cache_entry_of_the_wrong_shape_or_type_is_computed_again(tmp_path, capsys, stored):
    """A readable entry that is not the scale-times-larger float16 image (replaced by hand) is
    computed again, not returned as the target and cropped wherever it fits."""
    teacher = lambda lr: lr.repeat(2, axis=0).repeat(2, axis=1) / 255  # noqa: E731
    lr = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    cached = cached_teacher(teacher, "teacher-1", tmp_path / "cache", 2)
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
        return load_teacher(tiny(tmp_path, shared, *overrides), torch.device("cpu"))[1]

    same = identity(f"data.teacher={tmp_path / 't0.safetensors'}")
    assert identity(f"data.teacher={tmp_path / 't0.safetensors'}") == same
    assert identity(f"data.teacher={tmp_path / 't1.safetensors'}") != same
    assert identity(f"data.teacher={tmp_path / 't0.safetensors'}", "data.teacher_tta=false") != same


@pytest.mark.slow
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
        recipe = tiny(tmp_path / target, shared, f"data.teacher={tmp_path / 'brighter.safetensors'}",
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


def test_a_bad_start_with_a_teacher_leaves_no_run_folder(shared, tmp_path, monkeypatch):
    """The teacher's output cache is written into the run folder, so every check (here the
    pretrained weights) must come before the teacher runs, or a failed start leaves a folder."""
    from superres.train import trainer

    calls = []
    counting = lambda *args: calls.append(args) or cached_teacher(*args)  # noqa: E731
    monkeypatch.setattr(trainer, "cached_teacher", counting)
    missing = tmp_path / "none.safetensors"
    recipe = tiny(tmp_path, shared, "data.teacher=bicubic", f"network.pretrained={missing}")
    with pytest.raises(SuperresError, match=r"none\.safetensors"):
        train(recipe, progress=False)
    assert not recipe.run_dir.exists() and calls == []
