"""Training from a recipe: the checks and set-up around the loop, and the model file at its end.

Exactness: the data are stateless per sample (superres.train.data), the learning rate is a pure
function of the iteration, and a checkpoint holds the network, its EMA copy, the optimizer
and the RNG state (superres.train.checkpoint). So N iterations straight and N/2 + resume +
N/2 give the same weights.

Distributed (superres.train.distributed): each of N processes takes ``batch_size / N`` of
every global batch (the same sample numbers one process would use), so the result equals a
single process with the same recipe, up to float rounding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader

from superres.archs import spec
from superres.atomic import atomic_output
from superres.errors import SuperresError
from superres.train.checkpoint import Checkpoints, Progress, check_run_dir, restore
from superres.train.data import IterationBatches, PairedPatches, PatchSpec
from superres.train.discriminators import check_discriminator
from superres.train.distributed import (
    Distributed,
    join_process_group,
    leave_process_group,
    ranks_hold_identical_weights,
    wait_for_main,
)
from superres.train.interrupt import stop_on_signals
from superres.train.loop import TrainingStoppedError, run_iterations
from superres.train.losses import check_gan_loss, pixel_loss
from superres.train.model_file import RunSummary, write_model_file
from superres.train.optim import check_optimizer, learning_rate
from superres.train.parts import Parts, build_parts, network_params
from superres.train.precision import precision_notice
from superres.train.recipe import Recipe
from superres.train.run_log import LOG_NAME, RunLog, drop_log_records_after
from superres.train.teacher import TEACHER_CACHE_NAME, cached_teacher, load_teacher
from superres.train.validation import Validation


def _check_recipe(recipe: Recipe) -> None:
    """Refuse names no part knows before anything is written (the parts check them again)."""
    cfg = recipe.train
    learning_rate(cfg.schedule, cfg.optimizer.lr, cfg.schedule.warmup, cfg.iterations)  # past warm-up
    try:
        network_spec = spec(recipe.network.arch)
    except KeyError as exc:
        raise SuperresError(exc.args[0]) from None
    if recipe.network.pretrained_deepen:
        if recipe.network.pretrained_partial or not recipe.network.pretrained:
            raise SuperresError(
                "network.pretrained_deepen needs network.pretrained and not pretrained_partial"
            )
        if network_spec.deepen is None:
            raise SuperresError(f"network.pretrained_deepen: {recipe.network.arch} cannot be deepened")
    if recipe.network.pretrained_resample and not recipe.network.pretrained_partial:
        raise SuperresError("network.pretrained_resample needs network.pretrained_partial")
    for folder in recipe.val.sets:  # validation comes after training has run for a while
        if not Path(folder).is_dir():
            raise SuperresError("val.sets: no such folder", folder)
    for loss in cfg.losses:
        pixel_loss(loss.type)
    check_optimizer(cfg.optimizer)
    if cfg.gan is not None:
        check_optimizer(cfg.gan.optimizer)
        check_gan_loss(cfg.gan.loss)
        check_discriminator(cfg.gan.discriminator)


def train(
    recipe: Recipe,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
) -> tuple[Path | None, dict[str, Any]]:
    """Train as the recipe says; returns the model file written and its model card.

    ``stop_after``: checkpoint and return (path None) once this iteration is reached, to be
    continued later with ``resume`` (e.g. to split a long run across sessions). Under
    torchrun, ranks other than 0 return (None, card)."""

    ranks, device = join_process_group(device)
    try:
        return _train(recipe, resume, device, progress and ranks.is_main, stop_after, ranks)
    finally:
        leave_process_group(ranks)


def _training_data(recipe: Recipe, device: str, ranks: Distributed) -> PairedPatches:
    """The training patches, with the teacher's outputs (cached in the run folder) if the
    recipe names a teacher. Reads the training images: bad data stops here."""
    data = recipe.data
    spec = PatchSpec(data.scale, data.patch_size, data.channels, data.augment, data.patch_candidates)
    teacher = None
    if data.teacher:
        teacher = cached_teacher(
            *load_teacher(recipe, torch.device(device)), recipe.run_dir / TEACHER_CACHE_NAME, data.scale
        )
        if ranks.is_main:
            print(f"[{recipe.name}] upscaling the training images with the teacher {data.teacher} ...")
    return PairedPatches(
        data.train,
        spec,
        seed=recipe.train.seed,
        lr_folders=data.train_lr or None,
        degradation=data.degradation,
        downscales=tuple(data.downscales),
        teacher=teacher,
    )


def _announce(recipe: Recipe, parts: Parts, dataset: PairedPatches) -> None:
    """Tell the user about the precision in use and the training images too small to use."""
    notice = precision_notice(recipe.train.precision, parts.device)
    if notice is not None:
        print(f"[{recipe.name}] {notice}")
    if dataset.skipped:
        data = recipe.data
        images = "training images" + (" and downscaled copies" if data.downscales else "")
        names = ", ".join(dataset.skipped[:5]) + (", ..." if len(dataset.skipped) > 5 else "")
        print(
            f"[{recipe.name}] {len(dataset.skipped)} of {len(dataset.skipped) + len(dataset)} {images}"
            f" are smaller than the {data.patch_size * data.scale}-pixel HR patch and are not used"
            f" (data.patch_size sets it): {names}"
        )


def _start_run_folder(recipe: Recipe, resume: bool, start: int) -> None:
    """Write the recipe as run into the run folder; on resume, drop the log records past the
    checkpoint."""
    with atomic_output(recipe.run_dir / "recipe.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    if resume:
        drop_log_records_after(recipe.run_dir / LOG_NAME, start)


def _distributed_record(parts: Parts, ranks: Distributed) -> dict[str, Any]:
    """The card's record of a distributed run, after checking that every rank ended with the
    same weights; empty for one process."""
    if ranks.world_size == 1:
        return {}
    identical = ranks_hold_identical_weights(parts.network)
    if not identical:
        raise TrainingStoppedError(f"the {ranks.world_size} processes ended with different weights")
    return {"world_size": ranks.world_size, "ranks_identical": identical}


def _train(
    recipe: Recipe, resume: bool, device: str, progress: bool, stop_after: int | None, ranks: Distributed
) -> tuple[Path | None, dict[str, Any]]:
    from tqdm import tqdm

    _check_recipe(recipe)
    cfg, params = recipe.train, network_params(recipe)
    # Every check comes before the teacher's minutes of work, whose cache is the first thing
    # written into the run folder: a bad start leaves no run folder.
    checkpoint_path = check_run_dir(recipe, resume, ranks)
    parts = build_parts(recipe, params, torch.device(device), ranks, resume)  # pretrained checked here
    dataset = _training_data(recipe, device, ranks)
    if ranks.is_main:
        recipe.run_dir.mkdir(parents=True, exist_ok=True)
    wait_for_main(ranks)  # rank 0 has made the run folder
    before = restore(parts, checkpoint_path, recipe.network.arch, params) if resume else Progress()
    if ranks.is_main:
        _start_run_folder(recipe, resume, before.start)
        _announce(recipe, parts, dataset)
    stop = min(cfg.iterations, stop_after) if stop_after else cfg.iterations
    batch_size = recipe.data.batch_size // ranks.world_size
    batches = IterationBatches(before.start, stop, batch_size, ranks.rank, ranks.world_size)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=recipe.data.workers)
    bar = tqdm(total=cfg.iterations, initial=before.start, desc=recipe.name, unit="it", disable=not progress)
    log = RunLog(recipe, parts.optimizer, bar) if ranks.is_main else None
    checkpoints = Checkpoints(
        checkpoint_path, parts, recipe=recipe, params=params, before=before, resumed=resume, stop=stop
    )
    hooks = []
    if log is not None:
        hooks.append(log)
        if recipe.val.sets:
            hooks.append(Validation(recipe, parts, params, before.history, log))
        hooks.append(checkpoints)
    with stop_on_signals() as stop_request:
        done = run_iterations(
            parts, cfg, loader, iterations=range(before.start, stop), ranks=ranks, checkpoints=checkpoints,
            hooks=hooks, bar=bar, stop=stop_request,
        )  # fmt: skip
        if done < stop and checkpoints.saved_at != done and ranks.is_main:
            checkpoints.save(done)
    if log is not None:
        log.close()
    bar.close()
    distributed = _distributed_record(parts, ranks)
    history = before.history
    if done < stop:  # a stop signal
        interrupted = {"interrupted": stop_request.signal_name, "signal": stop_request.signal_number}
        return None, {"stopped_at": done, "checkpoint": str(checkpoint_path), **interrupted}
    if stop < cfg.iterations or not ranks.is_main:
        return None, {"stopped_at": stop, "metrics": history[-1] if history else {}, **distributed}
    images = {"used": len(dataset), "too_small_for_the_patch": len(dataset.skipped)}
    summary = RunSummary(history, checkpoints.elapsed(), parts.device, distributed, images)
    return write_model_file(recipe, parts.generator, recipe.network.arch, params, summary)
