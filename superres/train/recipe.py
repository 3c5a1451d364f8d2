"""Training recipes: YAML files mapped onto small dataclasses, checked for unknown keys.

Paths in a recipe are relative to the directory superres is run from. ``overrides`` are
``dotted.key=value`` strings (values parsed as YAML), e.g. ``train.iterations=1000``.
Numbers like ``2e-4`` are numbers here (plain YAML 1.1 reads them as strings).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from superres.errors import SuperresError
from superres.train.degradations import DegradationConfig, check_degradation
from superres.train.recipe_checks import check_constructor_params, check_optimizer_values, check_run_name

MAX_RECIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class NetworkConfig:
    arch: str
    params: dict[str, Any] = field(default_factory=dict)
    pretrained: str = ""  # weights file or shipped model name to start from (e.g. a GAN's PSNR model)
    # Start from the tensors of ``pretrained`` whose names and shapes fit, e.g. another scale's
    # model (all but the upsampler); the rest keep their initialisation. Named in the card.
    pretrained_partial: bool = False
    # With ``pretrained_partial`` across scales: start the last conv before the pixel shuffle
    # from the source's, its sub-pixel outputs interpolated to the new scale's positions,
    # instead of at random (the start then already upscales the image roughly right).
    pretrained_resample: bool = False
    # Start a deeper network from a shallower ``pretrained`` one of the same scale and width: the
    # new layers begin as identities (the arch module's ``deepen``; srvgg has one).
    pretrained_deepen: bool = False


@dataclass(frozen=True)
class DataConfig:
    train: list[str]
    scale: int
    patch_size: int = 48  # LR pixels
    batch_size: int = 16
    channels: int = 3
    augment: bool = True
    workers: int = 0  # DataLoader worker processes
    train_lr: list[str] = field(default_factory=list)  # paired LR folders, one per train folder
    degradation: DegradationConfig | None = None  # real-world degradations instead of bicubic LR
    downscales: list[float] = field(default_factory=list)  # extra shrunk copies of each HR image
    patch_candidates: int = 1  # crops drawn per sample, the most detailed kept (1 = uniform)
    # A model (shipped name or weights file) whose output for each training LR image, made once
    # before training, is the target of the losses with ``target: teacher`` (distillation).
    teacher: str = ""
    teacher_tta: bool = True  # the teacher's x8 self-ensemble (8x its time, once)


@dataclass(frozen=True)
class LossConfig:
    type: str  # l1, mse, charbonnier, y_mse (luma only), psnr (per sample)
    weight: float = 1.0
    target: str = "hr"  # hr, or teacher: data.teacher's output for the same LR patch


@dataclass(frozen=True)
class OptimizerConfig:
    type: str = "adam"
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0


@dataclass(frozen=True)
class PerceptualConfig:
    """VGG19 feature loss; needs torchvision's vgg19 weights file (never downloaded)."""

    weight: float = 1.0
    layers: dict[str, float] = field(default_factory=lambda: {"conv5_4": 1.0})
    weights_path: str = ""  # "" = the torch hub cache; "random" = random VGG (tests only)
    criterion: str = "l1"


@dataclass(frozen=True)
class GanConfig:
    discriminator: str = "unet"  # unet (Real-ESRGAN, spectral norm) or vgg (SRGAN/ESRGAN)
    discriminator_params: dict[str, Any] = field(default_factory=dict)
    loss: str = "vanilla"  # vanilla, lsgan, hinge, ragan
    weight: float = 0.1  # adversarial loss weight for the generator
    feature_matching: float = 0.0  # discriminator feature-matching loss weight
    # Iterations at the start that train only the discriminator (BasicSR's net_d_init_iters):
    # a fresh discriminator is near chance for a while, and a generator chasing its noise
    # learns artefacts.
    discriminator_warmup: int = 0
    # The discriminator sees only the high frequencies (the image less its low-pass): it
    # judges texture, which a pixel loss on the low-pass (l1_lowpass) leaves free.
    frequency_separation: bool = False
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-4))


@dataclass(frozen=True)
class ScheduleConfig:
    type: str = "constant"  # constant, multistep, cosine
    milestones: list[int] = field(default_factory=list)  # multistep
    gamma: float = 0.5  # multistep
    min_lr: float = 1e-7  # cosine
    warmup: int = 0  # linear warm-up iterations


@dataclass(frozen=True)
class ValidationConfig:
    sets: list[str] = field(default_factory=list)  # HR folders, evaluated with the benchmark protocol
    interval: int = 1000


@dataclass(frozen=True)
class TrainConfig:
    iterations: int
    seed: int = 0
    losses: list[LossConfig] = field(default_factory=lambda: [LossConfig("l1")])
    perceptual: PerceptualConfig | None = None
    gan: GanConfig | None = None
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema_decay: float = 0.999  # 0 disables the EMA copy
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    # bf16: forward passes under bf16 autocast (weights, gradients and optimizer state stay
    # fp32); 1.4-2x faster on CPUs with AVX-512 bf16 (benchmarks/TRAINING_PRECISION.md), 11-12x
    # slower on CPUs without it (TRAINING_PRECISION_AVX2.md), where training warns.
    # auto: bf16 where it is fast (CUDA with bf16, CPUs with AVX-512 BF16 or AMX), else fp32.
    precision: str = "fp32"
    channels_last: bool = False  # NHWC activations; faster for convolutions on CPU
    checkpoint_interval: int = 1000
    log_interval: int = 100


@dataclass(frozen=True)
class Recipe:
    name: str
    network: NetworkConfig
    data: DataConfig
    train: TrainConfig
    val: ValidationConfig = field(default_factory=ValidationConfig)
    output: str = "runs"  # the run's folder is output/name
    description: str = ""

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` (exponent, no dot) as a float, as people write it,
    and refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # the base class names an unhashable key
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)

_SCALAR_KINDS = {float: "a number", int: "an integer", bool: "true or false", str: "a string (quote it)"}


def _scalar(hint: Any, value: Any, key: str) -> Any:
    """``value`` checked against a float/int/bool/str field (an int is a fine float; a name
    YAML reads as a number, such as ``1e3``, must be quoted)."""
    if get_origin(hint) is list and get_args(hint)[0] in _SCALAR_KINDS:
        return [_scalar(get_args(hint)[0], item, f"{key}[{i}]") for i, item in enumerate(value)]
    if hint not in _SCALAR_KINDS:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value) if abs(value) < 1e308 else math.inf
    if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
        raise SuperresError(f"{key} must be {_SCALAR_KINDS[hint]}, got {value!r}")
    if hint is float and not math.isfinite(value):
        raise SuperresError(f"{key} must be a finite number, got {value!r}")
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from plain data, recursing into nested dataclasses."""
    if not isinstance(data, dict):
        raise SuperresError(f"{where or 'recipe'} must be a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise SuperresError(f"unknown key(s) {', '.join(f'{where}{k}' for k in unknown)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        optional = (
            [a for a in get_args(hint) if dataclasses.is_dataclass(a)]
            if get_origin(hint) in (Union, UnionType)
            else []
        )
        if optional:  # "SomeConfig | None"
            hint = optional[0]
            if value is None:
                values[name] = None
                continue
        if get_origin(hint) is list and not isinstance(value, list):
            raise SuperresError(f"{where}{name} must be a list, got {value!r}")
        if dataclasses.is_dataclass(hint):
            value = _build(hint, value, f"{where}{name}.")
        elif get_origin(hint) is list and dataclasses.is_dataclass(get_args(hint)[0]):
            value = [_build(get_args(hint)[0], item, f"{where}{name}[{i}].") for i, item in enumerate(value)]
        else:
            value = _scalar(hint, value, f"{where}{name}")
        values[name] = value
    missing = [f.name for f in fields(cls) if f.name not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]  # fmt: skip
    if missing:
        raise SuperresError(f"missing key(s) {', '.join(where + m for m in missing)}")
    return cls(**values)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``dotted.key=value`` entries (YAML-typed values) in a nested dict, in place."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SuperresError(f"--set expects key=value, got {item!r}")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SuperresError(f"--set {key}: {part} is not a section")
        try:
            node[leaf] = yaml.load(text, Loader=_RecipeLoader)
        except yaml.YAMLError as exc:
            raise SuperresError(f"--set {key}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return data


def _optimizer_values(config: OptimizerConfig) -> dict[str, Any]:
    return {"lr": config.lr, "betas": config.betas, "weight_decay": config.weight_decay}


# Sizes beyond these would only exhaust memory or time.
AT_MOST = {"data.scale": 16, "data.patch_size": 2048, "data.batch_size": 4096, "data.workers": 256,
           "train.iterations": 10**9, "train.seed": 2**63 - 1}  # fmt: skip


def _check_upper_bounds(recipe: Recipe) -> None:
    for key, most in AT_MOST.items():
        section, name = key.split(".")
        value = getattr(getattr(recipe, section), name)
        if value > most:
            raise SuperresError(f"{key} must be at most {most}, got {value}")


def _check_network(recipe: Recipe) -> None:
    """The network exists and its parameters fit its constructor; the discriminator's too."""
    from superres.archs import spec
    from superres.train.discriminators import DISCRIMINATORS
    from superres.train.parts import network_params

    try:
        network_spec = spec(recipe.network.arch)
    except KeyError as exc:
        raise SuperresError(f"network.arch: {exc.args[0]}") from None
    what = recipe.network.arch
    check_constructor_params(network_spec.builder, recipe.network.params, key="network.params", what=what,
                             build=False)  # fmt: skip
    check_constructor_params(network_spec.builder, network_params(recipe), key="network.params", what=what)
    gan = recipe.train.gan
    if gan is not None and gan.discriminator in DISCRIMINATORS:
        what = f"the {gan.discriminator} discriminator"
        key = "train.gan.discriminator_params"
        builder = DISCRIMINATORS[gan.discriminator]
        check_constructor_params(builder, gan.discriminator_params, key=key, what=what)


def _check_names(recipe: Recipe) -> None:
    """Every loss, optimizer, schedule, discriminator and VGG layer the recipe names exists."""
    from superres.train.discriminators import DISCRIMINATORS
    from superres.train.losses import GAN_LOSSES, PIXEL_LOSSES
    from superres.train.optim import OPTIMIZERS, SCHEDULES
    from superres.train.vgg import LAYERS

    train, gan, perceptual = recipe.train, recipe.train.gan, recipe.train.perceptual
    named = [(f"train.losses[{i}].type", "loss", x.type, PIXEL_LOSSES) for i, x in enumerate(train.losses)]
    named += [("train.optimizer.type", "optimizer", train.optimizer.type, OPTIMIZERS),
              ("train.schedule.type", "schedule", train.schedule.type, SCHEDULES)]  # fmt: skip
    if gan is not None:
        named += [("train.gan.loss", "GAN loss", gan.loss, GAN_LOSSES),
                  ("train.gan.discriminator", "discriminator", gan.discriminator, DISCRIMINATORS),
                  ("train.gan.optimizer.type", "optimizer", gan.optimizer.type, OPTIMIZERS)]  # fmt: skip
    if perceptual is not None:
        named.append(("train.perceptual.criterion", "criterion", perceptual.criterion, ("l1", "mse")))
        named += [("train.perceptual.layers", "VGG19 layer", layer, LAYERS) for layer in perceptual.layers]
    for key, what, value, known in named:
        if value not in known:
            raise SuperresError(f"{key}: unknown {what} {value!r}; choose from {', '.join(known)}")


def _check_values(recipe: Recipe) -> None:
    """Values that are well typed but out of range, refused here so the error names the recipe
    file."""
    from superres.train.data import check_sampling

    check_sampling(recipe.data.patch_candidates, recipe.data.downscales)
    if recipe.data.degradation is not None:
        check_degradation(recipe.data.degradation)
    check_run_name(recipe.name)
    data, train = recipe.data, recipe.train
    _check_upper_bounds(recipe)
    check_optimizer_values("train.optimizer", **_optimizer_values(train.optimizer))
    at_least = {
        "data.scale": (data.scale, 1),
        "data.patch_size": (data.patch_size, 1),
        "data.batch_size": (data.batch_size, 1),
        "data.workers": (data.workers, 0),
        "train.iterations": (train.iterations, 0),  # 0 writes the starting network, as built
        "train.seed": (train.seed, 0),
        "train.checkpoint_interval": (train.checkpoint_interval, 1),
        "train.log_interval": (train.log_interval, 1),
        "train.optimizer.lr": (train.optimizer.lr, 0),  # 0: a frozen network, as tests use
        "train.schedule.warmup": (train.schedule.warmup, 0),
        "train.grad_clip": (train.grad_clip, 0),  # 0: off
        "val.interval": (recipe.val.interval, 1),
    }
    at_least |= {f"train.losses[{i}].weight": (loss.weight, 0) for i, loss in enumerate(train.losses)}
    if train.perceptual is not None:
        at_least["train.perceptual.weight"] = (train.perceptual.weight, 0)
    if train.gan is not None:
        gan = train.gan
        at_least["train.gan.optimizer.lr"] = (gan.optimizer.lr, 0)
        at_least["train.gan.weight"] = (gan.weight, 0)
        at_least["train.gan.feature_matching"] = (gan.feature_matching, 0)
        at_least["train.gan.discriminator_warmup"] = (gan.discriminator_warmup, 0)
        check_optimizer_values("train.gan.optimizer", **_optimizer_values(gan.optimizer))
    for key, (value, least) in at_least.items():
        if not value >= least:
            raise SuperresError(f"{key} must be at least {least}, got {value}")
    if data.channels not in (1, 3):
        raise SuperresError(f"data.channels must be 1 (gray) or 3 (RGB), got {data.channels}")
    if not 0 <= train.ema_decay < 1:
        raise SuperresError(f"train.ema_decay must be from 0 (off) to below 1, got {train.ema_decay}")
    if not train.schedule.gamma > 0:
        raise SuperresError(f"train.schedule.gamma must be above 0, got {train.schedule.gamma}")
    if not train.losses and train.gan is None and train.perceptual is None:
        raise SuperresError("train.losses is empty and the recipe has no GAN or perceptual loss")
    if recipe.train.precision not in ("fp32", "bf16", "auto"):
        raise SuperresError(f"train.precision must be fp32, bf16 or auto, got {recipe.train.precision!r}")
    for loss in recipe.train.losses:
        if loss.target not in ("hr", "teacher"):
            raise SuperresError(f"loss target must be hr or teacher, got {loss.target!r}")
        if loss.target == "teacher" and not recipe.data.teacher:
            raise SuperresError(f"a {loss.type} loss targets the teacher, but the recipe has no data.teacher")
    _check_names(recipe)
    _check_network(recipe)


def _read_recipe(path: Path) -> dict[str, Any]:
    """The recipe file's YAML mapping (an empty file is an empty one)."""
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise SuperresError(f"too large for a recipe (over {MAX_RECIPE_BYTES} bytes)", path)
        data = yaml.load(path.read_bytes().decode("utf-8"), Loader=_RecipeLoader)
    except OSError as exc:
        raise SuperresError(f"cannot read recipe ({exc.strerror})", path) from None
    except UnicodeDecodeError as exc:
        raise SuperresError(f"not UTF-8 text (byte {exc.start})", path) from None
    except yaml.YAMLError as exc:
        raise SuperresError(f"not valid YAML ({str(exc).splitlines()[0]})", path) from None
    except RecursionError:
        raise SuperresError("not valid YAML (nested too deep)", path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SuperresError(f"recipe must be a mapping, got {type(data).__name__}", path)
    return data


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """The recipe in ``path`` with ``overrides`` applied, checked; SuperresError naming the file
    and the key otherwise."""
    path = Path(path)
    data = _read_recipe(path)
    try:
        recipe = _build(Recipe, apply_overrides(data, overrides or []), "")
        _check_values(recipe)
        return recipe
    except SuperresError as exc:
        raise SuperresError(exc.problem, path) from None
    except (TypeError, RecursionError) as exc:
        raise SuperresError(f"bad recipe value ({exc})", path) from None
