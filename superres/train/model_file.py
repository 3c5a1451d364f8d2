"""The file a training run ends with: the trained generator in superres' format, with its
model card (what was trained, how, on what, and its validation results)."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from superres.train.precision import training_precision
from superres.train.recipe import Recipe
from superres.weights import save_network


def hardware_description(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and the number of threads torch uses."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"CPU {cpu}, {threads} thread{'s' if threads > 1 else ''}"


def model_kind(recipe: Recipe) -> str:
    """gan; real (a PSNR model for real-world LR: trained on synthetic degradations); or psnr
    (clean bicubic LR, the benchmarks' kind, from which each scale's default is chosen)."""
    if recipe.train.gan:
        return "gan"
    return "real" if recipe.data.degradation else "psnr"


@dataclass(frozen=True)
class RunSummary:
    """What a finished run adds to its recipe in the model card."""

    history: list[dict[str, Any]]  # validation results, one entry per validation
    wall_time: float  # seconds, all sessions together
    device: torch.device
    distributed: dict[str, Any] = field(default_factory=dict)  # world_size and ranks_identical, if any
    images: dict[str, int] | None = None  # training images used, and those smaller than the HR patch


def _training_record(recipe: Recipe, summary: RunSummary) -> dict[str, Any]:
    """The card's ``training`` entry: how the network was trained."""
    data, train = recipe.data, recipe.train
    return {
        "data": data.train,
        "images": summary.images,
        "iterations": train.iterations,
        "batch_size": data.batch_size,
        "patch_size": data.patch_size,
        "patch_candidates": data.patch_candidates,
        "degradation": asdict(data.degradation) if data.degradation else None,
        "teacher": {"model": data.teacher, "tta": data.teacher_tta} if data.teacher else None,
        "losses": [asdict(lc) for lc in train.losses],
        "perceptual": asdict(train.perceptual) if train.perceptual else None,
        "gan": asdict(train.gan) if train.gan else None,
        "pretrained": recipe.network.pretrained or None,
        "pretrained_partial": recipe.network.pretrained_partial,
        "pretrained_resample": recipe.network.pretrained_resample,
        "pretrained_deepen": recipe.network.pretrained_deepen,
        "precision": training_precision(train.precision, summary.device),
        "optimizer": asdict(train.optimizer),
        "schedule": asdict(train.schedule),
        "ema_decay": train.ema_decay,
        "seed": train.seed,
        "wall_time_s": round(summary.wall_time, 1),
        "hardware": hardware_description(summary.device),
        "processes": summary.distributed.get("world_size", 1),
        "torch": torch.__version__,
    }


def write_model_file(
    recipe: Recipe, network: nn.Module, arch: str, params: dict[str, Any], summary: RunSummary
) -> tuple[Path, dict[str, Any]]:
    """Write the trained generator to ``RUN_DIR/NAME.safetensors`` with its model card; returns
    the path and the card. A re-parameterisable network (one with ``fold()``, e.g. ECBSR) is
    written folded: the plain network it equals, with the training-time network named in the
    card."""
    trained_as = None
    if hasattr(network, "fold"):
        trained_as = {"arch": arch, "params": params}
        network, arch, params = network.fold(), "srvgg", network.fold_params()
    history = summary.history
    card = {
        "kind": model_kind(recipe),
        "name": recipe.name,
        "description": recipe.description,
        "arch": arch,
        "params": params,
        "scale": recipe.data.scale,
        "parameters": sum(p.numel() for p in network.parameters()),  # the EMA copy has no trainable ones
        "trained_as": trained_as,
        "training": _training_record(recipe, summary),
        "metrics": {k: v for k, v in history[-1].items() if k != "iteration"} if history else {},
        "validation_history": history,
    }
    path = recipe.run_dir / f"{recipe.name}.safetensors"
    save_network(path, network.cpu(), arch, params, card)
    return path, card
