"""How well a GAN run's discriminator tells HR patches from its generator's output: a check
of whether the adversarial loss still gives the generator anything to follow.

Reads RUN/checkpoint.pt (the discriminator, and the generator it was trained against, not
its EMA) and RUN/recipe.yaml, and shows the discriminator 128-pixel HR patches of a test set
(BSD100 by default, images the run never saw) and the generator's output for the same
patches' LR (the published protocol's MATLAB bicubic). Prints the mean realism probability
on each and the share of pixels (a U-Net discriminator judges each one) it classes right; a
discriminator at chance gives 0.5 on both and about 50%.

Usage: python benchmarks/discriminator_probe.py RUN [--data DIR] [--patches N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from superres.archs import build_network
from superres.errors import SuperresError
from superres.evaluate import iter_pairs
from superres.train.checkpoint import CHECKPOINT_NAME, read_checkpoint
from superres.train.discriminators import build_discriminator
from superres.train.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
HR_PATCH = 128  # the side of the HR patches a U-Net discriminator is shown


def patches(folder: Path, scale: int, count: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``count`` (LR, HR) patch pairs, the top-left ``side`` square of each RGB image."""
    lrs, hrs = [], []
    for _, hr, lr in iter_pairs(folder, scale):
        if hr.shape[2] != 3 or min(hr.shape[:2]) < side:
            continue
        lrs.append(np.ascontiguousarray(lr[: side // scale, : side // scale]))
        hrs.append(np.ascontiguousarray(hr[:side, :side]))
        if len(hrs) == count:
            break
    as_batch = lambda images: torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    return as_batch(lrs), as_batch(hrs)


def judge(
    discriminator: torch.nn.Module, generator: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor
) -> tuple[float, float, float]:
    """The discriminator's mean realism probability on the HR patches and on the generator's
    output for their LR, and the share of judgements it gets right (logit > 0 means real)."""
    with torch.no_grad():
        real = discriminator(hr)[0]
        fake = discriminator(generator(lr).clamp(0, 1))[0]
    right = ((real > 0).float().mean() + (fake < 0).float().mean()) / 2
    return torch.sigmoid(real).mean().item(), torch.sigmoid(fake).mean().item(), right.item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a GAN run's folder (runs/NAME)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/test/BSD100")
    parser.add_argument("--patches", type=int, default=32)
    args = parser.parse_args()
    try:
        recipe = load_recipe(args.run / "recipe.yaml")
        if recipe.train.gan is None:
            raise SuperresError("its recipe has no train.gan", args.run)
        checkpoint = read_checkpoint(args.run / CHECKPOINT_NAME, torch.device("cpu"))
    except SuperresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    generator = build_network(checkpoint["arch"], **json.loads(checkpoint["params"]))
    generator.load_state_dict(checkpoint["network"])
    gan = recipe.train.gan
    d_params = {"in_channels": 3, **gan.discriminator_params}
    side = HR_PATCH  # a U-Net discriminator judges any size; a VGG-style one its training patch's
    if gan.discriminator == "vgg":
        side = d_params.setdefault("input_size", recipe.data.patch_size * recipe.data.scale)
    discriminator = build_discriminator(gan.discriminator, **d_params)
    discriminator.load_state_dict(checkpoint["discriminator"])
    lr, hr = patches(args.data, recipe.data.scale, args.patches, side)
    generator.eval()
    discriminator.eval()  # spectral norm uses its stored estimate, as trained
    on_hr, on_output, right = judge(discriminator, generator, lr, hr)
    print(
        f"{args.run.name} at iteration {checkpoint['iteration']}, {len(hr)} patches of {args.data.name}:"
        f" P(real) {on_hr:.3f} on HR, {on_output:.3f} on the generator's output;"
        f" pixels classed right {100 * right:.1f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
