"""The training loop: PSNR-oriented training from a recipe, with exact resume.

Exactness: the data are stateless per sample (superres.data), the learning rate is a pure
function of the iteration, and a checkpoint holds the network, its EMA copy, the optimizer
and the RNG state. So N iterations straight and N/2 + resume + N/2 give the same weights.
Checkpoints are written atomically (temp file + rename): a kill mid-write leaves the last
complete checkpoint in place.

Distributed: under ``torchrun --nproc_per_node N -m superres train ...`` each process joins
a process group (gloo on CPU, nccl on GPU), takes ``batch_size / N`` of every global batch
(the same sample numbers one process would use) and averages gradients with
DistributedDataParallel; only rank 0 validates, logs and writes files. So the result
equals a single process with the same recipe, up to float rounding.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from superres.archs import arch_module, build_network
from superres.atomic import atomic_output
from superres.data import IterationBatches, PairedPatches, PatchSpec, Teacher
from superres.engine.options import TileOptions
from superres.errors import SuperresError
from superres.evaluate import EvalOptions, evaluate_folder
from superres.models import SRModel, cpu_has_native_bf16, shipped_weights
from superres.train.discriminators import check_discriminator
from superres.train.gan import Adversary, build_adversary
from superres.train.losses import check_gan_loss, pixel_loss
from superres.train.optim import check_optimizer, make_optimizer
from superres.train.recipe import NetworkConfig, Recipe, ScheduleConfig, TrainConfig
from superres.train.vgg import PerceptualLoss
from superres.weights import save_network

CHECKPOINT_NAME = "checkpoint.pt"
TEACHER_CACHE_NAME = "teacher_cache"  # data.teacher's outputs, one .npy per training LR image


class TrainingStoppedError(SuperresError):
    """Training could not go on (e.g. a non-finite loss); the last checkpoint is intact."""


def learning_rate(schedule: ScheduleConfig, base_lr: float, iteration: int, total: int) -> float:
    """Learning rate for (0-based) ``iteration``: warm-up, then constant, step or cosine decay."""
    if schedule.warmup and iteration < schedule.warmup:
        return base_lr * (iteration + 1) / schedule.warmup
    if schedule.type == "constant":
        return base_lr
    if schedule.type == "multistep":
        return base_lr * schedule.gamma ** sum(iteration >= m for m in schedule.milestones)
    if schedule.type == "cosine":
        span = max(1, total - schedule.warmup)
        progress = min(1.0, (iteration - schedule.warmup) / span)
        return schedule.min_lr + (base_lr - schedule.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    raise SuperresError(f"unknown schedule {schedule.type!r}; use constant, multistep or cosine")


def _check_recipe(recipe: Recipe) -> None:
    """Refuse names no part knows before anything is written (the parts check them again)."""
    cfg = recipe.train
    learning_rate(cfg.schedule, cfg.optimizer.lr, cfg.schedule.warmup, cfg.iterations)  # past warm-up
    try:
        module = arch_module(recipe.network.arch)
    except KeyError as exc:
        raise SuperresError(exc.args[0]) from None
    if recipe.network.pretrained_deepen:
        if recipe.network.pretrained_partial or not recipe.network.pretrained:
            raise SuperresError(
                "network.pretrained_deepen needs network.pretrained and not pretrained_partial"
            )
        if not hasattr(module, "deepen"):
            raise SuperresError(f"network.pretrained_deepen: {recipe.network.arch} cannot be deepened")
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


def training_precision(precision: str, device: torch.device) -> str:
    """The precision ``train.precision`` means on ``device``: ``auto`` is bf16 where bf16 is
    fast (CUDA devices that support it, CPUs with native bf16), else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def _network_params(recipe: Recipe) -> dict[str, Any]:
    params = dict(recipe.network.params)
    if params.setdefault("scale", recipe.data.scale) != recipe.data.scale:
        raise SuperresError(f"network scale {params['scale']} differs from data.scale {recipe.data.scale}")
    if recipe.data.channels != 3:
        params.setdefault("in_channels", recipe.data.channels)
    return params


def pretrained_path(pretrained: str) -> Path:
    """``network.pretrained``: a weights file, or the name of a shipped model (``superres
    models``), so a recipe can start from one wherever superres is installed."""
    path, shipped = Path(pretrained), shipped_weights()
    return shipped[pretrained] if not path.exists() and pretrained in shipped else path


def _load_pretrained(
    network: nn.Module, arch: str, params: dict[str, Any], config: NetworkConfig
) -> list[str]:
    """Copy ``config.pretrained``'s weights into ``network``; returns the names left at
    initialisation (only with ``pretrained_partial``, which takes every tensor whose name and
    shape fit). ``pretrained_deepen`` starts a deeper network with its new layers as identities.
    A re-parameterisable network (ECBSR) may start from the plain network it folds into."""
    from superres.weights import load_network

    path = pretrained_path(config.pretrained)
    source, source_arch, _, _ = load_network(path)
    module = arch_module(arch)
    if source_arch != arch and source_arch == getattr(module, "FOLDS_TO", None):
        if config.pretrained_partial or config.pretrained_deepen or source.scale != params["scale"]:
            raise SuperresError(
                f"{arch} starts from a {source_arch} file of its own scale and depth as a whole"
                " (no pretrained_partial or pretrained_deepen)",
                path,
            )
        try:
            network.load_state_dict(module.unfold(source.state_dict(), network))
        except ValueError as exc:
            raise SuperresError(f"pretrained weights: {exc}", path) from None
        return []
    if source_arch != arch or (source.scale != params["scale"] and not config.pretrained_partial):
        raise SuperresError(
            f"pretrained weights are {source_arch} x{source.scale}, the recipe trains {arch}"
            f" x{params['scale']} (network.pretrained_partial takes what fits from another scale)",
            path,
        )
    if config.pretrained_partial:
        target = network.state_dict()
        fitting = {k: v for k, v in source.state_dict().items() if k in target and v.shape == target[k].shape}
        if not fitting:
            raise SuperresError("pretrained weights share no tensor with the recipe's network", path)
        network.load_state_dict(fitting, strict=False)
        return sorted(set(target) - set(fitting))
    state_dict = source.state_dict()
    if config.pretrained_deepen:
        try:
            state_dict = module.deepen(state_dict, network)
        except ValueError as exc:
            raise SuperresError(f"network.pretrained_deepen: {exc}", path) from None
    try:
        network.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise SuperresError(
            f"pretrained weights do not fit the recipe's network ({str(exc).splitlines()[0]})", path
        ) from None
    return []


def _load_teacher(recipe: Recipe, device: torch.device) -> tuple[Teacher, str]:
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


def _cached_teacher(teacher: Teacher, identity: str, cache_dir: Path, scale: int) -> Teacher:
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


def _drop_log_records_after(log_path: Path, iteration: int) -> None:
    """A run killed after its last checkpoint logged iterations that the resumed run repeats."""
    if log_path.exists():
        lines = log_path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line)["iteration"] <= iteration]
        if len(kept) < len(lines):
            log_path.write_text("".join(kept))


def hardware_description(device: torch.device) -> str:
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


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _join_process_group(device: str) -> tuple[Distributed, str]:
    """Join torchrun's process group if launched by it; returns (ranks, this rank's device)."""
    import os

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size()), device


def _ranks_hold_identical_weights(network: nn.Module) -> bool:
    flat = torch.cat([p.detach().reshape(-1).float().cpu() for p in network.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])


def _tensorboard_writer(run_dir: Path):
    """A TensorBoard writer for ``run_dir/tensorboard`` if the optional package is installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def train(
    recipe: Recipe,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
) -> tuple[Path | None, dict[str, Any]]:
    """Train as the recipe says; returns the exported weights file and its model card.

    ``stop_after``: checkpoint and return (path None) once this iteration is reached, to be
    continued later with ``resume`` (e.g. to split a long run across sessions). Under
    torchrun, ranks other than 0 return (None, card)."""

    ranks, device = _join_process_group(device)
    try:
        return _train(recipe, resume, device, progress and ranks.is_main, stop_after, ranks)
    finally:
        if ranks.world_size > 1:
            # The DDP wrapper (in reference cycles) must be freed before its process group:
            # freed at interpreter exit, after it, a rank once aborted ("terminate called
            # without an active exception") in CI.
            gc.collect()
            dist.destroy_process_group()


@dataclass
class _Parts:
    """What the training steps touch: the networks, the optimizer, the losses and the adversary."""

    network: nn.Module
    trained: nn.Module  # ``network``, DDP-wrapped when distributed
    ema: nn.Module | None  # a slowly averaged copy of ``network``; exported when present
    optimizer: torch.optim.Optimizer
    # (log name, loss function, weight, target: "hr" or "teacher")
    losses: list[tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor], float, str]]
    adversary: Adversary | None
    perceptual: PerceptualLoss | None
    device: torch.device
    memory_format: torch.memory_format
    bf16: bool

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16)

    @property
    def generator(self) -> nn.Module:
        return self.ema if self.ema is not None else self.network


@dataclass
class _Progress:
    """Where a run stands: restored from the checkpoint on resume."""

    start: int = 0  # iterations already done
    elapsed: float = 0.0  # wall time of the earlier sessions (s)
    history: list[dict[str, Any]] = field(default_factory=list)  # validation results


def _check_run_dir(recipe: Recipe, resume: bool, ranks: Distributed) -> Path:
    """The run folder's checkpoint path, refusing to clobber or resume nothing. The folder itself
    is made once the network and its pretrained weights are built, so a bad start leaves none."""
    if recipe.data.batch_size % ranks.world_size:
        raise SuperresError(
            f"data.batch_size {recipe.data.batch_size} is not divisible by {ranks.world_size} processes"
        )
    checkpoint_path = recipe.run_dir / CHECKPOINT_NAME
    if checkpoint_path.exists() and not resume:
        raise SuperresError(
            "run folder already holds a checkpoint: pass --resume, or change name/output", recipe.run_dir
        )
    if resume and not checkpoint_path.exists():
        raise SuperresError("nothing to resume: no checkpoint here", recipe.run_dir)
    return checkpoint_path


def _build_parts(
    recipe: Recipe, params: dict[str, Any], device: torch.device, ranks: Distributed, resume: bool
) -> _Parts:
    cfg, arch = recipe.train, recipe.network.arch
    losses = [  # fail fast on a bad name
        (lc.type if lc.target == "hr" else f"{lc.type}_teacher", pixel_loss(lc.type), lc.weight, lc.target)
        for lc in cfg.losses
    ]
    torch.manual_seed(cfg.seed)
    network = build_network(arch, **params)
    if recipe.network.pretrained and not resume:
        left = _load_pretrained(network, arch, params, recipe.network)
        if left and ranks.is_main:
            print(f"[{recipe.name}] not in the pretrained weights, trained from scratch: {', '.join(left)}")
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    network = network.to(device, memory_format=memory_format).train()

    def wrap(module: nn.Module) -> nn.Module:
        return DistributedDataParallel(module) if ranks.world_size > 1 else module

    parts = _Parts(
        network=network,
        trained=wrap(network),
        ema=copy.deepcopy(network).eval().requires_grad_(False) if cfg.ema_decay > 0 else None,
        optimizer=make_optimizer(cfg.optimizer, network.parameters()),
        losses=losses,
        adversary=None,
        perceptual=None,
        device=device,
        memory_format=memory_format,
        bf16=training_precision(cfg.precision, device) == "bf16",
    )
    if cfg.gan:
        hr_patch = recipe.data.patch_size * recipe.data.scale
        channels = params.get("in_channels", 3)
        parts.adversary = build_adversary(cfg.gan, channels, hr_patch, device, wrap, parts.autocast)
    if cfg.perceptual:
        p = cfg.perceptual
        parts.perceptual = PerceptualLoss(p.layers, p.weights_path, p.criterion).to(device)
    return parts


def _restore(parts: _Parts, checkpoint_path: Path, arch: str, params: dict[str, Any]) -> _Progress:
    state = torch.load(checkpoint_path, map_location=parts.device, weights_only=True)
    if state["arch"] != arch or json.loads(state["params"]) != json.loads(json.dumps(params)):
        raise SuperresError("checkpoint was made for another network than the recipe names", checkpoint_path)
    parts.network.load_state_dict(state["network"])
    if parts.ema is not None:
        parts.ema.load_state_dict(state["ema"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.adversary is not None:
        parts.adversary.load(state)
    torch.set_rng_state(state["rng"])
    return _Progress(int(state["iteration"]), float(state["elapsed"]), json.loads(state["history"]))


def _checkpoint_state(
    parts: _Parts, arch: str, params: dict[str, Any], iteration: int, elapsed: float, history: list
) -> dict[str, Any]:
    return {
        "arch": arch,
        "params": json.dumps(params),
        "iteration": iteration,
        "network": parts.network.state_dict(),
        "ema": parts.ema.state_dict() if parts.ema is not None else {},
        "optimizer": parts.optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "elapsed": elapsed,
        "history": json.dumps(history),
        **(parts.adversary.state() if parts.adversary is not None else {}),
    }


def _step(
    parts: _Parts,
    cfg: TrainConfig,
    iteration: int,
    lr_batch: torch.Tensor,
    hr_batch: torch.Tensor,
    ranks: Distributed,
    last_good: str,
    teacher_batch: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """One optimisation step of the generator (and the discriminator); returns the loss terms.
    ``last_good`` names the checkpoint to fall back on if the loss is not finite.
    ``teacher_batch`` is the target of the losses whose target is the teacher."""
    for group in parts.optimizer.param_groups:
        group["lr"] = learning_rate(cfg.schedule, cfg.optimizer.lr, iteration, cfg.iterations)
    lr_batch = lr_batch.to(parts.device, memory_format=parts.memory_format)
    hr_batch = hr_batch.to(parts.device, memory_format=parts.memory_format)
    targets = {"hr": hr_batch}
    if teacher_batch is not None:
        targets["teacher"] = teacher_batch.to(parts.device, memory_format=parts.memory_format)
    adversary = parts.adversary
    if adversary is not None and iteration < cfg.gan.discriminator_warmup:  # generator frozen
        with torch.no_grad(), parts.autocast():
            sr = parts.trained(lr_batch).float()
        return {"discriminator": torch.tensor(adversary.step(sr, hr_batch))}
    with parts.autocast():
        sr = parts.trained(lr_batch).float()  # losses in fp32
        terms = {name: weight * fn(sr, targets[target]) for name, fn, weight, target in parts.losses}
        if parts.perceptual is not None:
            terms["perceptual"] = cfg.perceptual.weight * parts.perceptual(sr, hr_batch)
        if adversary is not None:
            terms.update(adversary.generator_terms(sr, hr_batch))
    loss = sum(terms.values())
    finite = torch.isfinite(loss.detach()).float()
    if ranks.world_size > 1:  # all ranks must agree to stop, or the others would hang
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    if not finite.item():
        raise TrainingStoppedError(
            f"non-finite loss ({loss.item()}) at iteration {iteration + 1}; stopped; {last_good}"
        )
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(parts.network.parameters(), cfg.grad_clip)
    parts.optimizer.step()
    if adversary is not None:
        terms["discriminator"] = torch.tensor(adversary.step(sr, hr_batch))
    if parts.ema is not None:
        with torch.no_grad():
            for ema_p, p in zip(parts.ema.parameters(), parts.network.parameters(), strict=True):
                ema_p.lerp_(p, 1 - cfg.ema_decay)
            for ema_b, b in zip(parts.ema.buffers(), parts.network.buffers(), strict=True):
                ema_b.copy_(b)
    return terms


def _log_record(
    done: int, lr: float, terms: dict[str, torch.Tensor], timing: dict[str, float], batch_size: int
) -> dict[str, Any]:
    total = timing["data"] + timing["compute"]
    record = {"iteration": done, "lr": lr}
    record.update({k: round(v.item(), 6) for k, v in terms.items()})
    record.update(
        {
            "it_per_s": round(timing["steps"] / total, 3),
            "samples_per_s": round(timing["steps"] * batch_size / total, 2),
            "data_share": round(timing["data"] / total, 3),  # time waiting for the loader
        }
    )
    return record


def _train(
    recipe: Recipe, resume: bool, device: str, progress: bool, stop_after: int | None, ranks: Distributed
) -> tuple[Path | None, dict[str, Any]]:
    from tqdm import tqdm

    _check_recipe(recipe)
    run_dir, cfg, data = recipe.run_dir, recipe.train, recipe.data
    arch, params = recipe.network.arch, _network_params(recipe)
    spec = PatchSpec(data.scale, data.patch_size, data.channels, data.augment, data.patch_candidates)
    # Every check before the teacher's minutes of work, whose cache is the first thing written
    # into the run folder: a bad start leaves no run folder.
    checkpoint_path = _check_run_dir(recipe, resume, ranks)
    parts = _build_parts(recipe, params, torch.device(device), ranks, resume)  # pretrained checked here
    teacher = None
    if data.teacher:
        teacher = _cached_teacher(
            *_load_teacher(recipe, torch.device(device)), run_dir / TEACHER_CACHE_NAME, recipe.data.scale
        )
        if ranks.is_main:
            print(f"[{recipe.name}] upscaling the training images with the teacher {data.teacher} ...")
    dataset = PairedPatches(  # reads the training images: bad data stops here, before the teacher runs
        data.train, spec, cfg.seed, data.train_lr or None, data.degradation, tuple(data.downscales), teacher
    )
    if ranks.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    if ranks.world_size > 1:
        dist.barrier()  # rank 0 has made the run folder
    done_before = _restore(parts, checkpoint_path, arch, params) if resume else _Progress()
    start, history = done_before.start, done_before.history
    if ranks.is_main:
        (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
        if resume:
            _drop_log_records_after(run_dir / "log.jsonl", start)

    if cfg.precision == "auto" and ranks.is_main:
        chosen = "bf16" if parts.bf16 else "fp32"
        print(f"[{recipe.name}] train.precision auto: {chosen} on this {parts.device.type}")
    if cfg.precision == "bf16" and parts.device.type == "cpu" and not cpu_has_native_bf16() and ranks.is_main:
        print(
            f"[{recipe.name}] warning: train.precision is bf16, but this CPU has no native bf16"
            " (AVX-512 BF16 or AMX), so training runs several times slower than with"
            " --set train.precision=fp32"
        )
    if dataset.skipped and ranks.is_main:
        images = "training images" + (" and downscaled copies" if data.downscales else "")
        names = ", ".join(dataset.skipped[:5]) + (", ..." if len(dataset.skipped) > 5 else "")
        print(
            f"[{recipe.name}] {len(dataset.skipped)} of {len(dataset.skipped) + len(dataset)} {images}"
            f" are smaller than the {data.patch_size * data.scale}-pixel HR patch and are not used"
            f" (data.patch_size sets it): {names}"
        )
    stop = min(cfg.iterations, stop_after) if stop_after else cfg.iterations
    batches = IterationBatches(start, stop, data.batch_size // ranks.world_size, ranks.rank, ranks.world_size)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=data.workers)
    writer = _tensorboard_writer(run_dir) if ranks.is_main else None
    bar = tqdm(total=cfg.iterations, initial=start, desc=recipe.name, unit="it", disable=not progress)
    started = time.perf_counter()
    last_good = (
        f"last good checkpoint: {checkpoint_path} (iteration {start})" if resume else "no checkpoint yet"
    )
    timing = {"data": 0.0, "compute": 0.0, "steps": 0}
    waiting_since = time.perf_counter()
    for iteration, (lr_batch, hr_batch, *taught) in zip(range(start, stop), loader, strict=True):
        fetched = time.perf_counter()
        terms = _step(parts, cfg, iteration, lr_batch, hr_batch, ranks, last_good, *taught)
        timing["data"] += fetched - waiting_since
        timing["compute"] += time.perf_counter() - fetched
        timing["steps"] += 1
        done = iteration + 1
        bar.update()
        if ranks.is_main and (done % cfg.log_interval == 0 or done == cfg.iterations):
            record = _log_record(done, parts.optimizer.param_groups[0]["lr"], terms, timing, data.batch_size)
            timing = {"data": 0.0, "compute": 0.0, "steps": 0}
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("iteration", "it_per_s")})
            with open(run_dir / "log.jsonl", "a") as log_file:
                log_file.write(json.dumps(record) + "\n")
            if writer is not None:
                for key, value in record.items():
                    if key != "iteration":
                        writer.add_scalar(f"train/{key}", value, done)
        if ranks.is_main and recipe.val.sets and (done % recipe.val.interval == 0 or done == cfg.iterations):
            metrics = validate(recipe, parts.generator, arch, params)
            parts.network.train()
            history.append({"iteration": done, **metrics})
            if writer is not None:
                for set_name, values in metrics.items():
                    writer.add_scalar(f"val/{set_name}_psnr", values["psnr"], done)
            bar.write(
                f"[{recipe.name}] iteration {done}: "
                + ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in metrics.items())
            )
        if ranks.is_main and (done % cfg.checkpoint_interval == 0 or done == stop):
            elapsed = done_before.elapsed + time.perf_counter() - started
            _save_checkpoint(checkpoint_path, _checkpoint_state(parts, arch, params, done, elapsed, history))
            last_good = f"last good checkpoint: {checkpoint_path} (iteration {done})"
        waiting_since = time.perf_counter()
    if writer is not None:
        writer.close()
    bar.close()
    distributed = {}
    if ranks.world_size > 1:
        identical = _ranks_hold_identical_weights(parts.network)
        if not identical:
            raise TrainingStoppedError(f"the {ranks.world_size} processes ended with different weights")
        distributed = {"world_size": ranks.world_size, "ranks_identical": identical}
    if stop < cfg.iterations or not ranks.is_main:
        return None, {"stopped_at": stop, "metrics": history[-1] if history else {}, **distributed}
    total_time = done_before.elapsed + time.perf_counter() - started
    images = {"used": len(dataset), "too_small_for_the_patch": len(dataset.skipped)}
    return export(
        recipe, parts.generator, arch, params, history, total_time, parts.device, distributed, images
    )


def model_kind(recipe: Recipe) -> str:
    """gan; real (a PSNR model for real-world LR: trained on synthetic degradations); or psnr
    (clean bicubic LR, the benchmarks' kind, from which each scale's default is chosen)."""
    if recipe.train.gan:
        return "gan"
    return "real" if recipe.data.degradation else "psnr"


def export(
    recipe: Recipe,
    network: nn.Module,
    arch: str,
    params: dict[str, Any],
    history: list[dict[str, Any]],
    wall_time: float,
    device: torch.device,
    distributed: dict[str, Any] | None = None,
    images: dict[str, int] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write the trained generator in superres' format with its model card. A
    re-parameterisable network (one with ``fold()``, e.g. ECBSR) is written folded: the
    plain network it equals, with the training-time network named in the card."""
    trained_as = None
    if hasattr(network, "fold"):
        trained_as = {"arch": arch, "params": params}
        network, arch, params = network.fold(), "srvgg", network.fold_params()
    card = {
        "kind": model_kind(recipe),
        "name": recipe.name,
        "description": recipe.description,
        "arch": arch,
        "params": params,
        "scale": recipe.data.scale,
        "parameters": sum(p.numel() for p in network.parameters()),  # the EMA copy has no trainable ones
        "trained_as": trained_as,
        "training": {
            "data": recipe.data.train,
            "images": images,  # training images used, and those smaller than the HR patch
            "iterations": recipe.train.iterations,
            "batch_size": recipe.data.batch_size,
            "patch_size": recipe.data.patch_size,
            "patch_candidates": recipe.data.patch_candidates,
            "degradation": asdict(recipe.data.degradation) if recipe.data.degradation else None,
            "teacher": {"model": recipe.data.teacher, "tta": recipe.data.teacher_tta}
            if recipe.data.teacher
            else None,
            "losses": [asdict(lc) for lc in recipe.train.losses],
            "perceptual": asdict(recipe.train.perceptual) if recipe.train.perceptual else None,
            "gan": asdict(recipe.train.gan) if recipe.train.gan else None,
            "pretrained": recipe.network.pretrained or None,
            "pretrained_partial": recipe.network.pretrained_partial,
            "pretrained_deepen": recipe.network.pretrained_deepen,
            "precision": training_precision(recipe.train.precision, device),
            "optimizer": asdict(recipe.train.optimizer),
            "schedule": asdict(recipe.train.schedule),
            "ema_decay": recipe.train.ema_decay,
            "seed": recipe.train.seed,
            "wall_time_s": round(wall_time, 1),
            "hardware": hardware_description(device),
            "processes": (distributed or {}).get("world_size", 1),
            "torch": torch.__version__,
        },
        "metrics": {k: v for k, v in history[-1].items() if k != "iteration"} if history else {},
        "validation_history": history,
    }
    path = recipe.run_dir / f"{recipe.name}.safetensors"
    save_network(path, network.cpu(), arch, params, card)
    return path, card
