"""Training data: HR folders decoded once into memory, and random paired patches drawn per
sample. The LR side is one of: the MATLAB-style bicubic of the HR image (made once), LR
images from paired folders, or a fresh real-world degradation of each HR patch. A teacher
model's output for each LR image (made once) may come with every patch as a second target.
Images may be 8- or 16-bit; each is scaled to 0..1 as inference scales it
(``superres.api.value_range``: 16-bit data by the bit depth it uses), its copies and LR alike.

Sampling is stateless: training sample number ``k`` (counted over the whole run) takes its
image, crop and flips from a generator seeded with ``(seed, k)``. So a resumed run, a run
with more DataLoader workers, and a distributed run (each rank taking its slice of the
global batch) all see exactly the same patches as one uninterrupted process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from superres.engine.values import value_range
from superres.errors import SuperresError
from superres.evaluate import lr_partner, make_lr, resize_integer
from superres.io import image_files, read_image
from superres.metrics import mod_crop, rgb_to_y
from superres.train.degradations import DegradationConfig, degrade

# A teacher: an HxWxC uint8/uint16 LR image in, its upscaled HxWxC float image out, in 0..1
# of the sample type's range (superres.api.upscale_float).
Teacher = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PatchSpec:
    scale: int
    patch_size: int  # LR patch side; the HR patch is scale times larger
    channels: int = 3  # 3 = RGB, 1 = Y (luma, 16..235 as the benchmark measures it)
    augment: bool = True  # random horizontal flip and 90-degree rotations (8 orientations)
    # Crops drawn per sample; the one with the most detail is kept (see ``detail``). 1 = uniform.
    patch_candidates: int = 1


def detail(patch: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: high on edges and texture, near 0
    on sky and walls. Keeping the most detailed of a few random crops is the informative patch
    sampling of SamplingAug (Wang et al. 2021), with this cheap score in place of their
    bicubic-error one: flat patches teach a network little that bicubic did not already get."""
    a = patch.astype(np.float32)
    return float(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())


def _to_channels(pixels: np.ndarray, channels: int, path: Path) -> np.ndarray:
    if pixels.dtype not in (np.uint8, np.uint16):
        raise SuperresError(f"training expects 8- or 16-bit images, found {pixels.dtype}", path)
    pixels = pixels[:, :, :3] if pixels.shape[2] >= 3 else pixels[:, :, :1]
    if channels == 3:
        return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    if pixels.shape[2] == 1:  # gray (a CT slice, an X-ray) at any depth, as it is
        return pixels
    # Y of RGB, in the units of the bit depth in use, as inference maps samples to [0, 1]
    peak = value_range(pixels)[1]
    y = rgb_to_y(pixels * (255.0 / peak)) * (peak / 255.0)
    return np.round(y).astype(pixels.dtype)[:, :, None]


def check_sampling(patch_candidates: int, downscales: tuple[float, ...] | list[float]) -> None:
    """Refuse ``data.patch_candidates`` below 1 and ``data.downscales`` outside (0, 1)."""
    if patch_candidates < 1:
        raise SuperresError(f"data.patch_candidates must be at least 1, got {patch_candidates}")
    if not all(isinstance(f, int | float) and 0 < f < 1 for f in downscales):
        raise SuperresError(f"data.downscales must be factors between 0 and 1, got {list(downscales)}")


class PairedPatches(Dataset):
    """Random LR/HR patch pairs from folders of HR images.

    ``lr_folders`` (one per HR folder) gives paired LR images, matched by file name;
    ``degradation`` degrades every HR patch afresh instead of using a fixed LR image.
    ``downscales`` adds a copy of every HR image shrunk by each factor (MATLAB bicubic),
    the scale augmentation VDSR and LapSRN trained the 291 images with.
    ``teacher`` upscales every LR image once; its output, cropped like the HR patch, comes
    third in each sample (knowledge distillation), kept as float16 to halve its memory.
    ``dataset[k]`` is training sample ``k``; any integer is valid."""

    def __init__(
        self,
        folders: list[str | Path],
        spec: PatchSpec,
        *,
        seed: int = 0,
        lr_folders: list[str | Path] | None = None,
        degradation: DegradationConfig | None = None,
        downscales: tuple[float, ...] = (),
        teacher: Teacher | None = None,
    ) -> None:
        self.spec, self.seed, self.degradation = spec, seed, degradation
        self.hr: list[np.ndarray] = []
        self.lr: list[np.ndarray] = []
        self.teacher_sr: list[np.ndarray] = []  # the teacher's output per LR image, if any
        self.peak: list[float] = []  # what each image is divided by to reach 0..1
        self.skipped: list[str] = []  # images (or NAME@factor copies) smaller than the HR patch
        if lr_folders and len(lr_folders) != len(folders):
            raise SuperresError("data.train_lr needs one LR folder per data.train folder")
        if downscales and lr_folders:
            raise SuperresError("data.downscales cannot be used with paired LR folders (data.train_lr)")
        if teacher is not None and degradation is not None:
            raise SuperresError("data.teacher needs fixed LR images; it cannot be used with data.degradation")
        check_sampling(spec.patch_candidates, downscales)
        hr_side = spec.patch_size * spec.scale
        for index, folder in enumerate(folders):
            folder = Path(folder)
            if not folder.is_dir():
                raise SuperresError("training folder not found", folder)
            lr_folder = Path(lr_folders[index]) if lr_folders else None
            for path in image_files(folder):
                image = _to_channels(read_image(path).page(0).pixels, spec.channels, path)
                peak = value_range(image)[1]
                for factor in (1.0, *downscales):
                    hr = mod_crop(resize_integer(image, factor) if factor != 1.0 else image, spec.scale)
                    if min(hr.shape[:2]) < hr_side:
                        self.skipped.append(path.name if factor == 1.0 else f"{path.name}@{factor:g}")
                        continue
                    self.hr.append(hr)
                    self.peak.append(peak)
                    if degradation is None:
                        self.lr.append(self._lr_for(hr, path, lr_folder, peak))
        if not self.hr:
            raise SuperresError(f"no training image is at least {hr_side}x{hr_side} pixels", folders[0])
        if teacher is not None:
            self.teacher_sr = [teacher(lr).astype(np.float16, copy=False) for lr in self.lr]

    def _lr_for(self, hr: np.ndarray, hr_path: Path, lr_folder: Path | None, peak: float) -> np.ndarray:
        if lr_folder is None:  # clamped to the source image's bit depth, not the copy's
            return make_lr(hr, self.spec.scale, peak)
        lr_path = lr_partner(lr_folder, hr_path.stem, self.spec.scale)
        lr = _to_channels(read_image(lr_path).page(0).pixels, self.spec.channels, lr_path)
        if lr.dtype != hr.dtype:
            raise SuperresError(f"LR is {lr.dtype}, its HR image {hr.dtype}", lr_path)
        expected = (hr.shape[0] // self.spec.scale, hr.shape[1] // self.spec.scale)
        if lr.shape[:2] != expected:
            raise SuperresError(
                f"LR is {lr.shape[1]}x{lr.shape[0]}, expected {expected[1]}x{expected[0]}", lr_path
            )
        return lr

    def __len__(self) -> int:
        return len(self.hr)  # images, for reporting; samples are indexed by any integer

    def __getitem__(self, k: int) -> tuple[torch.Tensor, ...]:
        """(LR, HR) patches as float C x H x W tensors in 0..1, and the teacher's patch third
        when there is a teacher."""
        rng = np.random.default_rng([self.seed, k])
        i = int(rng.integers(len(self.hr)))
        as_array = lambda a: np.ascontiguousarray(a.transpose(2, 0, 1))  # noqa: E731
        as_tensor = lambda a: torch.from_numpy(as_array(a)).float() / self.peak[i]  # noqa: E731
        if self.degradation is not None:
            side = self.spec.patch_size * self.spec.scale
            image = self.hr[i]
            top, left = self._crop_corner(image, side, rng)
            (hr,) = self._augment((image[top : top + side, left : left + side],), rng)
            hr_tensor = as_tensor(hr)
            return degrade(hr_tensor, self.spec.scale, self.degradation, rng), hr_tensor
        lr_img, hr_img, s, p = self.lr[i], self.hr[i], self.spec.scale, self.spec.patch_size
        top, left = self._crop_corner(lr_img, p, rng)
        lr = lr_img[top : top + p, left : left + p]
        hr_window = np.s_[top * s : (top + p) * s, left * s : (left + p) * s]
        if not self.teacher_sr:
            lr, hr = self._augment((lr, hr_img[hr_window]), rng)
            return as_tensor(lr), as_tensor(hr)
        lr, hr, taught = self._augment((lr, hr_img[hr_window], self.teacher_sr[i][hr_window]), rng)
        # The teacher's output is in 0..1 of the sample type's range; bring it to this image's.
        to_peak = np.iinfo(hr_img.dtype).max / self.peak[i]
        return as_tensor(lr), as_tensor(hr), torch.from_numpy(as_array(taught)).float() * to_peak

    def _crop_corner(self, image: np.ndarray, side: int, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of a ``side`` crop of ``image``: uniform, or the most detailed of
        ``patch_candidates`` uniform ones (scored on the image the crop is drawn from)."""
        height, width = image.shape[:2]
        corners = [
            (int(rng.integers(height - side + 1)), int(rng.integers(width - side + 1)))
            for _ in range(self.spec.patch_candidates)
        ]
        if len(corners) == 1:
            return corners[0]
        return max(corners, key=lambda c: detail(image[c[0] : c[0] + side, c[1] : c[1] + side]))

    def _augment(self, patches: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """The same random flip and rotation for every patch (an aligned LR/HR pair)."""
        if not self.spec.augment:
            return patches
        flip, turns = bool(rng.integers(2)), int(rng.integers(4))
        return tuple(np.rot90(a[:, ::-1] if flip else a, turns) for a in patches)


class IterationBatches(Sampler[list[int]]):
    """Sample numbers for iterations ``start .. stop-1``: iteration ``it`` of a run with
    global batch ``batch_size * world_size`` gives rank ``rank`` the numbers
    ``it * global + rank * batch_size + j`` for ``j < batch_size``."""

    def __init__(self, start: int, stop: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.start, self.stop = start, stop
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        global_batch = self.batch_size * self.world_size
        for it in range(self.start, self.stop):
            first = it * global_batch + self.rank * self.batch_size
            yield list(range(first, first + self.batch_size))
