"""Training data: stateless, aligned and sharded patches, downscaled copies, detailed crops,
teacher patches, 16-bit and one-channel images."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from superres.errors import SuperresError
from superres.io import ImageData, read_image, write_image
from superres.metrics import mod_crop
from superres.train.data import IterationBatches, PairedPatches, PatchSpec
from superres.train.trainer import train
from superres.weights import load_network
from tests.conftest import requantised_folder
from tests.train.conftest import tiny


@pytest.mark.slow
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


@pytest.mark.slow
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
    recipe = tiny(tmp_path, shared, "data.downscales=[0.7]", "train.iterations=2", "val.sets=[]")
    _, card = train(recipe, progress=False)
    assert card["training"]["images"]["used"] + card["training"]["images"]["too_small_for_the_patch"] == 182


def test_patch_candidates_keep_the_most_detailed_crop(tmp_path):
    """data.patch_candidates: of N random crops the most detailed is kept, so half-flat images
    give textured patches far more often than uniform sampling's half of the time."""
    from PIL import Image

    from superres.train.data import detail

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
        from superres.train.degradations import DegradationConfig

        PairedPatches([folder], PatchSpec(2, 8), teacher=nearest, degradation=DegradationConfig())


@pytest.mark.parametrize("peak", [4095, 65535])
def test_16_bit_images_train_as_inference_scales_them(shared, tmp_path, peak):
    """16-bit images give the same 0..1 patches as the 8-bit originals (12-bit data by its
    4095, as inference maps it), their copies and LR alike."""
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
        # The 8-bit set's downscaled copies and LR images are rounded to 8 bits, these not.
        assert (hr16 - hr8).abs().max() <= 1.5 / 255 and (lr16 - lr8).abs().max() <= 1.5 / 255
        assert hr16.max() <= 1 and lr16.max() <= 1  # copies and LR stay within the bit depth


def test_a_downscaled_copys_lr_keeps_the_source_bit_depth(tmp_path):
    """A 12-bit image's 0.5x copy can peak below 2048; its LR image's overshoot is clipped at
    the source's 4095, not at 2047 (the copy's own bit depth)."""
    image = np.zeros((96, 96, 3), np.uint16)
    image[:, 48:] = 2020  # a step whose bicubic overshoot crosses 2047 only in the copy's LR
    image[0, 0] = 4095  # 12-bit data
    (tmp_path / "t").mkdir()
    write_image(tmp_path / "t" / "step.png", ImageData(image))
    patches = PairedPatches([tmp_path / "t"], PatchSpec(2, 24), downscales=(0.5,))
    copy, copy_lr = patches.hr[1], patches.lr[1]
    assert copy.max() < 2048 and patches.peak[1] == 4095
    assert copy_lr.max() > 2047


@pytest.mark.slow
@pytest.mark.parametrize("peak", [4095, 65535])
def test_one_channel_training_takes_16_bit_gray_and_colour(shared, tmp_path, peak):
    """A 1-channel network (data.channels: 1) trains on 16-bit images, the usual case for CT,
    MR and X-ray. Gray is taken as it is; colour gives its Y, in the units of the bit depth
    in use, matching the 8-bit Y to within rounding."""
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
    recipe = tiny(
        tmp_path, shared, f"data.train=[{gray16}]", "data.channels=1", "train.iterations=2", "val.sets=[]"
    )
    path, _ = train(recipe, progress=False)
    assert load_network(path)[0].in_channels == 1
