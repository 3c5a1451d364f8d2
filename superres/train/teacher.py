"""``data.teacher``: a model whose output for each training LR image is a second target,
computed once and cached in the run folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from superres.atomic import atomic_output
from superres.engine.options import TileOptions
from superres.errors import SuperresError
from superres.train.data import Teacher
from superres.train.recipe import Recipe

TEACHER_CACHE_NAME = "teacher_cache"  # data.teacher's outputs, one .npy per training LR image


def load_teacher(recipe: Recipe, device: torch.device) -> tuple[Teacher, str]:
    """``data.teacher`` as a function from an LR image to its upscaled image (whole-image
    inference, x8 self-ensemble unless ``data.teacher_tta`` is false, clamped to 0..1), and a
    digest of what decides its outputs (its weights, architecture, scale and the TTA flag)."""
    from superres.api import upscale_float
    from superres.models import load_model

    bicubic_scale = recipe.data.scale if recipe.data.teacher == "bicubic" else None  # needs no file
    try:
        # fp32 everywhere: the cached targets must not depend on the machine's bf16
        model = load_model(recipe.data.teacher, scale=bicubic_scale, device=device, precision="fp32")
    except SuperresError as exc:
        raise SuperresError(f"data.teacher: {exc.problem}", exc.path) from None
    if (model.scale, model.in_channels) != (recipe.data.scale, recipe.data.channels):
        raise SuperresError(
            f"data.teacher is x{model.scale} with {model.in_channels} input channels, the recipe"
            f" trains x{recipe.data.scale} with {recipe.data.channels}",
            recipe.data.teacher,
        )
    options = TileOptions(tile=0, tta=recipe.data.teacher_tta)
    identity = hashlib.sha256(f"{type(model.network).__name__} x{model.scale} tta={options.tta}".encode())
    for name, tensor in model.network.state_dict().items():
        identity.update(name.encode())
        identity.update(tensor.detach().cpu().float().numpy().tobytes())
    return (lambda lr: upscale_float(model, lr, options)), identity.hexdigest()


def cached_teacher(teacher: Teacher, identity: str, cache_dir: Path, scale: int) -> Teacher:
    """The teacher, keeping each output (float16) in ``cache_dir`` under a digest of
    ``identity`` and the LR image, so a resumed or repeated run skips the teacher's minutes of
    work. Keyed by content, an entry can never belong to another teacher or image; deleting
    the folder only costs the recomputation. An entry damaged outside the trainer (writes are
    atomic) that no longer reads as a ``scale`` times larger float16 image is computed again."""
    import numpy as np

    def upscale(lr: np.ndarray) -> np.ndarray:
        key = hashlib.sha256(f"{identity} {lr.shape} {lr.dtype}".encode() + lr.tobytes()).hexdigest()
        path = cache_dir / f"{key[:40]}.npy"
        if path.exists():
            try:
                output = np.load(path, allow_pickle=False)
                expected = (lr.shape[0] * scale, lr.shape[1] * scale)
                if output.ndim != 3 or output.shape[:2] != expected or output.dtype != np.float16:
                    raise ValueError(f"holds a {output.dtype} array of shape {output.shape}")
                return output
            except (OSError, ValueError) as exc:
                print(f"{path}: unreadable teacher cache entry ({exc}); computing it again")
        output = teacher(lr).astype(np.float16)
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:  # a unique temporary file, so DDP ranks cannot collide
            np.save(tmp, output)
        return output

    return upscale
