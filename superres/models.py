"""Loaded models: name resolution over the declared zoo (superres.zoo), loading, blending."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from superres import external, zoo
from superres.archs import build_network, spec, specs
from superres.errors import SuperresError

WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors", ".pth.tar", ".tar")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class SRModel:
    """A network ready for inference. Calling it maps a float N x C x H x W batch in [0, 1]
    to N x C x sH x sW (float32, on the caller's device, not clamped). It holds no
    per-call state, so one instance may serve several threads at once."""

    network: nn.Module
    arch: str
    arch_params: dict[str, Any]
    name: str
    device: torch.device
    precision: str = "fp32"  # fp32, bf16 or fp16 (autocast)
    card: dict[str, Any] = field(default_factory=dict)
    channels_last: bool = False  # NHWC activations: ~1.4x faster fp32 convs on CPU
    # Peak activation bytes per LR input pixel, measured once here, before the model can be
    # shared between threads (measuring registers hooks on the network).
    activation_bytes_per_pixel: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "activation_bytes_per_pixel", _probe_activation_bytes(self))

    @property
    def scale(self) -> int:
        return int(self.network.scale)

    @property
    def in_channels(self) -> int:
        return int(self.network.in_channels)

    @property
    def out_channels(self) -> int:
        return int(self.network.out_channels)

    @property
    def size_multiple(self) -> int:
        """The network pads its input to a multiple of this (its attention window); 1 for none."""
        return int(getattr(self.network, "size_multiple", 1))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        source_device = x.device
        x = x.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast(
                self.device.type, dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16
            )
            if self.precision in ("bf16", "fp16")
            else contextlib.nullcontext()
        )
        with torch.no_grad(), autocast:  # not inference_mode: callers may modify the result in place
            y = self.network(x)
        return y.float().contiguous().to(source_device)


def _probe_activation_bytes(model: SRModel) -> float:
    """Peak activation bytes per LR input pixel, estimated from a 16 x 16 probe run:
    three times the largest single activation (input, output and a concat in flight)."""
    largest = 0

    def hook(_module, _inputs, output) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel())

    leaves = [m for m in model.network.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model(torch.zeros(1, model.in_channels, 16, 16))
    finally:
        for handle in handles:
            handle.remove()
    bytes_per_value = 4 if model.precision == "fp32" else 2
    largest = max(largest, model.out_channels * 256 * model.scale**2)
    return 3 * largest * bytes_per_value / 256


def shipped_weights() -> dict[str, Path]:
    """Weight files that ship inside the package, by model name (``superres.zoo.SHIPPED``)."""
    return {m.name: m.file for m in sorted(zoo.SHIPPED, key=lambda m: m.name)}


def default_model_name(scale: int = 4) -> str:
    """The declared default model for ``scale`` (``superres.zoo.DEFAULTS``); bicubic, which
    needs no weights, for a scale with none."""
    return zoo.DEFAULTS.get(scale, "bicubic")


def shipped_of_kind(kind: str, scale: int) -> dict[str, dict]:
    """The shipped models of one kind (psnr, gan or real) and scale, with their metadata."""
    from superres.weights import read_metadata

    return {
        name: read_metadata(path)
        for name, path in shipped_weights().items()
        if zoo.SHIPPED_BY_NAME[name].kind == kind and zoo.SHIPPED_BY_NAME[name].scale == scale
    }


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SuperresError("--device cuda asked for, but no CUDA device is available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SuperresError("--device mps asked for, but MPS is not available")
    return device


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: without either, bf16 autocast convolutions are emulated on CPU and
    run far slower than fp32 (the compact networks trained 11-12x slower on an AVX2 EPYC:
    benchmarks/TRAINING_PRECISION_AVX2.md)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence getattr
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _default_precision(device: torch.device, shipped_name: str | None, arch: str) -> str:
    """What ``auto`` means: bf16 on a CPU with native bf16 for a shipped model declared
    ``bf16_verified`` (:mod:`superres.zoo`), or other weights of a network whose spec declares
    it (none does), where bf16 autocast ran IMDN 1.4-2x faster than fp32 channels_last
    (README, fast paths; the compact networks have not been timed on such a CPU); fp32
    otherwise. bf16 is not a default for every network: it moved IMDN x2's
    Set5 PSNR by -0.028 dB (benchmarks/fast_paths.py), over the 0.01 dB a default may cost."""
    declared = zoo.shipped_model(shipped_name) if shipped_name else None
    verified = declared.bf16_verified if declared else spec(arch).bf16_verified
    if device.type == "cpu" and verified and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


@dataclass(frozen=True)
class ModelSource:
    """What a model name means: its name, its weights file (None for bicubic, which needs
    none), whether it is a shipped model named as such (not by its path), and the
    declaration of a named model from outside the package (:mod:`superres.external`)."""

    name: str
    path: Path | None
    shipped: bool = False
    external: zoo.ExternalModel | None = None  # a named model from the models folder


def resolve_model(name_or_path: str | Path | None, scale: int | None = None) -> ModelSource:
    """The model ``name_or_path`` names at ``scale`` (see :func:`load_model`); SuperresError
    saying what is known when it names none."""
    name = str(name_or_path) if name_or_path is not None else "default"
    if name == "default":
        name = default_model_name(scale or 4)
    if name == "auto":  # superres.engine.auto: a pick per image, not one model
        raise SuperresError("auto picks a model image by image (superres upscale); name one model here")
    shipped = shipped_weights()
    if name not in shipped and f"{name}-x{scale or 4}" in shipped:
        name = f"{name}-x{scale or 4}"  # a shipped name without its scale: photo-gan -> photo-gan-x4
    if name in shipped:
        return ModelSource(name, shipped[name], shipped=True)
    declared = zoo.external_model(name)
    if declared is not None:
        found = external.installed_file(declared)
        if found is None:
            raise SuperresError(external.missing_message(declared))
        return ModelSource(declared.name, found, external=declared)
    networks = specs()
    if name == "bicubic":
        return ModelSource("bicubic", None)
    if name in networks:
        matching = [n for n in shipped if n.split("-")[0] == name]
        raise SuperresError(
            f"network {name!r} has no shipped weights"
            + (f" (shipped: {', '.join(matching)})" if matching else "")
            + "; pass a weights file with -m path/to/weights.pth"
        )
    path = Path(name)
    if path.suffix.lower() in WEIGHT_SUFFIXES and path.exists():
        return ModelSource(path.name.removesuffix(".tar").rsplit(".", 1)[0], path)
    other_scales = [n for n in shipped if re.fullmatch(rf"{re.escape(name)}-x\d+", n)]
    if other_scales:  # photo-gan with -s 3: the name is right, the scale is not
        raise SuperresError(f"{name!r} is shipped only as {', '.join(other_scales)}, not at x{scale or 4}")
    known = ", ".join([*shipped, *(m.name for m in zoo.EXTERNAL), *networks])
    raise SuperresError(f"no model or weights file named {name!r} (models: {known})")


def load_model(
    name_or_path: str | Path | None = None,
    scale: int | None = None,
    *,
    device: str | torch.device | None = "cpu",
    precision: str = "auto",
    channels_last: bool | None = None,
    strength: float | None = None,
) -> SRModel:
    """Load a model by shipped name, network name, or weights-file path.

    ``None``/``"default"`` picks the default model for ``scale`` (default 4). A shipped
    name may leave out its ``-xN`` ending (``photo-gan`` is ``photo-gan-x4``, or ``-x2`` with
    scale 2). A bare network name uses its shipped weights (``bicubic`` needs none). A named
    model from outside the package (``realesrgan-x4plus``, :mod:`superres.external`) loads
    from the models folder once ``superres fetch NAME`` put it there. A path loads any
    supported file, recognising the network from its keys.

    ``strength`` blends a fine-tuned model with the shipped model it was tuned from (see
    :func:`blended`); by default, the strength its card names, else 1 (the file as it is).
    """
    if strength is not None and not 0 <= strength <= 1:  # NaN too
        raise SuperresError(f"strength must be 0 to 1, got {strength}")
    from superres.weights import load_network

    if precision not in PRECISIONS:
        raise SuperresError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    torch_device = resolve_device(device)
    if precision == "fp16" and torch_device.type == "cpu":
        raise SuperresError("fp16 is for GPUs; on CPU use --precision bf16 or fp32")
    source = resolve_model(name_or_path, scale)
    if source.path is None:
        network, params = build_network("bicubic", scale=scale or 4), {"scale": scale or 4}
        return SRModel(network.eval(), "bicubic", params, "bicubic", torch_device, "fp32", {})
    network, arch, params, card = load_network(source.path, scale=scale)
    if source.external is not None:
        card = _external_card(source.external, source.path, f"{arch} x{network.scale}", card)
    if scale is not None and network.scale != scale:
        raise SuperresError(f"model is x{network.scale}, but --scale {scale} was asked for", source.path)
    network = network.to(torch_device)
    if channels_last is None:
        channels_last = torch_device.type == "cpu"
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    if precision == "auto":
        precision = _default_precision(torch_device, source.name if source.shipped else None, arch)
    model = SRModel(network, arch, params, source.name, torch_device, precision, card, channels_last)
    own_strength = card.get("strength", 1.0)
    strength = own_strength if strength is None else strength
    if strength == 1:
        return model
    return blended(model, strength, source.name if strength == own_strength else None)


def _external_card(declared: zoo.ExternalModel, path: Path, found: str, card: dict[str, Any]) -> dict:
    """The card of a named model's file: its own, completed from the declaration; SuperresError
    when the file in the models folder (``found``: its network and scale, "rrdbnet x4") is
    another network or scale (`superres fetch` never keeps one; a user may put one there)."""
    if found != f"{declared.arch} x{declared.scale}":
        raise SuperresError(
            f"is {found}, not {declared.name} ({declared.arch} x{declared.scale}): replace it with"
            f" `superres fetch {declared.name} --force`",
            path,
        )
    return {**declared.card(), **card}


def blended(model: SRModel, strength: float, name: str | None = None) -> SRModel:
    """``model`` with weights ``strength * its own + (1 - strength) * its start's``: its start
    is the shipped model it was fine-tuned from (``training.pretrained`` in its card), of the
    same network and scale. Network interpolation (ESRGAN's, and Real-ESRGAN's
    ``--denoise_strength``): a model for real photos between removing artefacts and keeping
    detail, a GAN between texture and fidelity. Named ``name``, else ``NAME@STRENGTH``."""
    start_name = Path(str(model.card.get("training", {}).get("pretrained") or "")).stem
    if start_name not in shipped_weights():
        raise SuperresError(
            f"{model.name} was not fine-tuned from a shipped model, so it has no strength to set"
        )
    start = load_model(start_name, device=model.device, precision=model.precision, strength=1.0)
    if (start.arch, start.arch_params, start.scale) != (model.arch, model.arch_params, model.scale):
        raise SuperresError(
            f"{model.name} started from {start_name}, another network or scale: no strength to set"
        )
    network = copy.deepcopy(model.network)
    own, theirs = model.network.state_dict(), start.network.state_dict()
    network.load_state_dict({key: strength * own[key] + (1 - strength) * theirs[key] for key in own})
    card = {**model.card, "strength": strength, "strength_start": start_name}
    name = name or f"{model.name}@{strength:g}"
    return dataclasses.replace(model, network=network, name=name, card=card)
