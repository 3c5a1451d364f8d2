"""Validation during training: PSNR/SSIM on the recipe's ``val.sets`` every ``val.interval``
iterations and at the last one, by the benchmark protocol (``superres eval``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from superres.engine.options import TileOptions
from superres.evaluate import EvalOptions, evaluate_folder
from superres.models import SRModel
from superres.train.parts import Parts
from superres.train.recipe import Recipe
from superres.train.run_log import RunLog, StepTimes


def validate(
    recipe: Recipe, network: nn.Module, arch: str, params: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """PSNR/SSIM of ``network`` on the recipe's validation sets (benchmark protocol)."""
    device = next(network.parameters()).device
    model = SRModel(network.eval(), arch, params, recipe.name, device)
    metrics = {}
    for folder in recipe.val.sets:
        result = evaluate_folder(model, Path(folder), EvalOptions(("psnr", "ssim"), TileOptions(tile=0)))
        metrics[result.name] = {"psnr": round(result.mean("psnr"), 4), "ssim": round(result.mean("ssim"), 4)}
    return metrics


class Validation:
    """Validates the generator, appends the results to ``history`` and logs them."""

    def __init__(
        self, recipe: Recipe, parts: Parts, params: dict[str, Any], history: list[dict[str, Any]], log: RunLog
    ) -> None:
        self.recipe, self.parts, self.params, self.history, self.log = recipe, parts, params, history, log

    def after_step(self, done: int, terms: dict[str, torch.Tensor], times: StepTimes) -> None:
        recipe = self.recipe
        if not (done % recipe.val.interval == 0 or done == recipe.train.iterations):
            return
        metrics = validate(recipe, self.parts.generator, recipe.network.arch, self.params)
        self.parts.network.train()
        self.history.append({"iteration": done, **metrics})
        self.log.validation(done, metrics)
