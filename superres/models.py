"""Loaded models and the model zoo: shipped weights, default choice, name resolution."""

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

from superres.archs import ARCHS, build_network
from superres.errors import SuperresError

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
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
    """Weight files that ship inside the package, by model name (file stem)."""
    return {p.stem: p for p in sorted(PRETRAINED_DIR.glob("*.safetensors"))}


def default_model_name(scale: int = 4) -> str:
    """The best shipped PSNR model for ``scale``: the highest mean PSNR over the test sets of
    the eval table in its card (Set5, Set14, BSD100), or over its validation sets when it
    has no eval table. Set5 alone (five images) once decided a 0.0001 dB tie at x3.

    With no shipped weights for that scale, bicubic (which needs none)."""
    best, best_psnr = "bicubic", float("-inf")
    for name, meta in shipped_of_kind("psnr", scale).items():
        card = meta.get("card", {})
        sets = card.get("eval", {}).get("sets") or card.get("metrics", {})
        scores = [float(s["psnr"]) for s in sets.values() if "psnr" in s]
        psnr = sum(scores) / len(scores) if scores else 0.0
        if psnr > best_psnr:
            best, best_psnr = name, psnr
    return best


def shipped_of_kind(kind: str, scale: int) -> dict[str, dict]:
    """The shipped models of one kind (psnr, gan or real) and scale, with their metadata."""
    from superres.weights import read_metadata

    found = {name: read_metadata(path) for name, path in shipped_weights().items()}
    return {n: m for n, m in found.items() if m.get("scale") == scale and m.get("kind", "psnr") == kind}


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


# Shipped models whose bf16-autocast results score within 0.01 dB of fp32 on Set5 and Set14
# (`superres eval -m NAME --precision bf16` against `--precision fp32`: at most 0.0025 dB
# apart; README, fast paths), so `auto` may run them in bf16 where that is fast.
# tests/test_inference.py pins the defaults' Set5 delta.
BF16_VERIFIED = frozenset(
    {
        "compact64-x2-kd",
        "compact64-x3-kd",
        "compact64-x4-kd",
        "compact-x2-kd",
        "compact-x3-kd",
        "compact-x4-kd",
    }
)


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: without either, bf16 autocast convolutions are emulated on CPU and
    run far slower than fp32 (the compact networks trained 11-12x slower on an AVX2 EPYC:
    benchmarks/TRAINING_PRECISION_AVX2.md)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence getattr
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _default_precision(device: torch.device, shipped_name: str | None) -> str:
    """What ``auto`` means: bf16 for a shipped model verified in bf16 (BF16_VERIFIED) on a CPU
    with native bf16, where bf16 autocast ran IMDN 1.4-2x faster than fp32 channels_last
    (README, fast paths; the compact networks have not been timed on such a CPU); fp32
    otherwise. bf16 is not a default for every network: it moved IMDN x2's
    Set5 PSNR by -0.028 dB (benchmarks/fast_paths.py), over the 0.01 dB a default may cost."""
    if device.type == "cpu" and shipped_name in BF16_VERIFIED and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def load_model(
    name_or_path: str | Path | None = None,
    scale: int | None = None,
    device: str | torch.device | None = "cpu",
    precision: str = "auto",
    channels_last: bool | None = None,
    strength: float | None = None,
) -> SRModel:
    """Load a model by shipped name, network name, or weights-file path.

    ``None``/``"default"`` picks the best shipped model for ``scale`` (default 4). A shipped
    name may leave out its ``-xN`` ending (``photo-gan`` is ``photo-gan-x4``, or ``-x2`` with
    scale 2). A bare network name uses its shipped weights (``bicubic`` needs none). A path loads any
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
    name = str(name_or_path) if name_or_path is not None else "default"
    if name == "default":
        name = default_model_name(scale or 4)
    shipped = shipped_weights()
    if name not in shipped and f"{name}-x{scale or 4}" in shipped:
        name = f"{name}-x{scale or 4}"  # a shipped name without its scale: photo-gan -> photo-gan-x4
    path = Path(name)
    if name in shipped:
        path = shipped[name]
    elif name in ARCHS:
        if name == "bicubic":
            network, params, card = build_network("bicubic", scale=scale or 4), {"scale": scale or 4}, {}
            return SRModel(network.eval(), "bicubic", params, "bicubic", torch_device, "fp32", card)
        matching = [n for n, p in shipped.items() if n.split("-")[0] == name]
        raise SuperresError(
            f"network {name!r} has no shipped weights"
            + (f" (shipped: {', '.join(matching)})" if matching else "")
            + "; pass a weights file with -m path/to/weights.pth"
        )
    elif path.suffix.lower() not in WEIGHT_SUFFIXES or not path.exists():
        other_scales = [n for n in shipped if re.fullmatch(rf"{re.escape(name)}-x\d+", n)]
        if other_scales:  # photo-gan with -s 3: the name is right, the scale is not
            raise SuperresError(
                f"{name!r} is shipped only as {', '.join(other_scales)}, not at x{scale or 4}"
            )
        known = ", ".join([*shipped, *ARCHS])
        raise SuperresError(f"no model or weights file named {name!r} (models: {known})")
    network, arch, params, card = load_network(path)
    if scale is not None and network.scale != scale:
        raise SuperresError(f"model is x{network.scale}, but --scale {scale} was asked for", path)
    network = network.to(torch_device)
    if channels_last is None:
        channels_last = torch_device.type == "cpu"
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    model_name = path.stem if name not in shipped else name
    if precision == "auto":
        precision = _default_precision(torch_device, name if name in shipped else None)
    model = SRModel(network, arch, params, model_name, torch_device, precision, card, channels_last)
    own_strength = card.get("strength", 1.0)
    strength = own_strength if strength is None else strength
    if strength == 1:
        return model
    return blended(model, strength, model_name if strength == own_strength else None)


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
