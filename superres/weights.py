"""Reading and writing weight files, and recognising which network a state dict belongs to.

Third-party ``.pth``/``.pt`` files are read with ``torch.load(weights_only=True)``, which
refuses pickled code; ``.safetensors`` cannot hold code at all. Our own files are
safetensors whose metadata names the network, its parameters and a model card.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from superres.archs import build_network, detection_order, spec, specs
from superres.atomic import atomic_output
from superres.errors import SuperresError

FORMAT_TAG = "superres-1"
# Checkpoint wrappers used by BasicSR, Real-ESRGAN, EDSR-PyTorch and friends, in order of preference.
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and (for safetensors) metadata of a weights file; wrappers and ``module.`` removed."""
    path = Path(path)
    if not path.is_file():
        raise SuperresError("weights file not found", path)
    metadata: dict[str, str] = {}
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise SuperresError(f"not a readable safetensors file ({_first_line(exc)})", path) from None
        return _unwrap(tensors, path), metadata
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SuperresError(
            "refused: the file holds more than plain tensors and loading it could run code "
            f"({_first_line(exc)})",
            path,
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise SuperresError(f"not a readable PyTorch weights file ({_first_line(exc)})", path) from None
    return _unwrap(obj, path), metadata


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):  # e.g. {"state_dict": {"params_ema": ...}} nests at most a couple of levels
        if not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SuperresError("holds no state dict of tensors", path)
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def detect_arch(state_dict: dict[str, torch.Tensor]) -> tuple[str, dict[str, Any]] | None:
    """``(network name, constructor params)`` for a third-party state dict, or None: the
    first network that recognises it, in :func:`superres.archs.detection_order`."""
    for candidate in detection_order():
        params = candidate.detect(state_dict)
        if params is not None:
            return candidate.name, params
    return None


def _describe(state_dict: dict[str, torch.Tensor]) -> str:
    keys = list(state_dict)
    shown = ", ".join(f"{k} {tuple(state_dict[k].shape)}" for k in keys[:3])
    return f"{len(keys)} tensors, first: {shown}"


def load_network(path: str | Path) -> tuple[torch.nn.Module, str, dict[str, Any], dict[str, Any]]:
    """Build the network a weights file describes and load its weights.

    Returns ``(network, arch name, arch params, model card)``; raises SuperresError with
    what was found when the file matches no known network or its shapes do not fit.
    """
    path = Path(path)
    state_dict, metadata = read_state_dict(path)
    card: dict[str, Any] = {}
    if metadata.get("format") == FORMAT_TAG:
        arch = metadata.get("arch", "")
        if arch not in specs():
            raise SuperresError(f"superres file names unknown network {arch!r}", path)
        params = json.loads(metadata.get("arch_params", "{}"))
        card = json.loads(metadata.get("card", "{}"))
    else:
        found = detect_arch(state_dict)
        if found is None:
            raise SuperresError(f"matches no known network ({_describe(state_dict)})", path)
        arch, params = found
        convert = spec(arch).convert
        if convert is not None:
            state_dict = convert(state_dict)
    try:
        network = build_network(arch, **params)
        network.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        problem = _first_line(exc).replace("Error(s) in loading state_dict for ", "")
        detail = ", ".join(f"{k}={v}" for k, v in params.items())
        raise SuperresError(
            f"looks like {arch}({detail}) but the weights do not fit: {problem}", path
        ) from None
    return network.eval(), arch, params, card


def save_network(
    path: str | Path,
    network: torch.nn.Module,
    arch: str,
    params: dict[str, Any],
    card: dict[str, Any] | None = None,
) -> Path:
    """Write ``network`` in superres' format (safetensors + metadata), atomically."""
    path = Path(path)
    metadata = {
        "format": FORMAT_TAG,
        "arch": arch,
        "arch_params": json.dumps(params, sort_keys=True),
        "scale": str(getattr(network, "scale", params.get("scale", ""))),
        "card": json.dumps(card or {}, sort_keys=True),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Network, parameters and model card of a superres file, without loading tensors.

    Returns ``{}`` for files in other formats."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise SuperresError(f"not a readable safetensors file ({_first_line(exc)})", path) from None
    if metadata.get("format") != FORMAT_TAG:
        return {}
    params = json.loads(metadata.get("arch_params", "{}"))
    card = json.loads(metadata.get("card", "{}"))
    return {
        "arch": metadata.get("arch"),
        "arch_params": params,
        "scale": params.get("scale"),
        "kind": card.get("kind", "psnr"),
        "card": card,
    }
