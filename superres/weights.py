"""Reading and writing weight files, and recognising which network a state dict belongs to.

Third-party ``.pth``/``.pt`` files are read with ``torch.load(weights_only=True)``, which
refuses pickled code; ``.safetensors`` cannot hold code at all. Our own files are
safetensors whose metadata names the network, its parameters and a model card.

Every file is checked before a network is built from it: a state dict of named, dense,
finite floating-point tensors (integer scalars allowed: BatchNorm's counters), and, for our
own files, metadata that parses to what it should. The network is first built on the meta
device and its shapes compared with the file's, so a file cannot make us allocate more than
its own size.
"""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from superres.archs import build_network, detection_order, spec, specs
from superres.archs.detect import is_index_buffer
from superres.atomic import atomic_output
from superres.errors import SuperresError

FORMAT_TAG = "superres-1"
# Checkpoint wrappers used by BasicSR, Real-ESRGAN, EDSR-PyTorch and friends, in order of preference.
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net_g", "net", "generator")
# Not "model.": the original ESRGAN layout's own keys are model.0 ... model.10.
_KEY_PREFIXES = ("module.", "_orig_mod.", "net_g.", "generator.")
_MAX_WRAPPERS = 3  # e.g. {"state_dict": {"params_ema": ...}} nests a couple of levels
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and (for safetensors) metadata of a weights file; wrappers and ``module.`` removed.
    SuperresError unless it holds named, dense, finite floating-point tensors."""
    path = Path(path)
    if path.is_dir():
        raise SuperresError("is a folder, not a weights file", path)
    if not path.is_file():
        raise SuperresError("weights file not found", path)
    metadata: dict[str, str] = {}
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise SuperresError(f"not a readable safetensors file ({_first_line(exc)})", path) from None
        return _checked(_unwrap(tensors, path), path), metadata
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SuperresError(
            "refused: the file holds more than plain tensors and loading it could run code "
            f"({_first_line(exc)})",
            path,
        ) from None
    except Exception as exc:  # the unpickler fails on other files in any way (a text file: KeyError)
        raise SuperresError(f"not a readable PyTorch weights file ({_first_line(exc)})", path) from None
    return _checked(_unwrap(obj, path), path), metadata


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0][:200] if lines else ""
    return text if len(text) > 8 else f"{type(exc).__name__} {text}".strip()


def _shown(key: object) -> str:
    """A key as a message may show it: on one line, not too long."""
    text = key if isinstance(key, str) and key.isprintable() else repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    for depth in range(_MAX_WRAPPERS + 1):
        if not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        if depth == _MAX_WRAPPERS:
            raise SuperresError(f"checkpoint wrappers nested more than {_MAX_WRAPPERS} deep", path)
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise SuperresError("holds no state dict of tensors", path)
    for key, value in obj.items():
        if not isinstance(key, str):
            raise SuperresError(f"holds key {_shown(key)} ({type(key).__name__}), not a tensor name", path)
        if not isinstance(value, torch.Tensor):
            found = f"{_shown(key)} is a {type(value).__name__}"
            raise SuperresError(f"holds no state dict of tensors ({found})", path)
    return _without_wrapper_prefix(obj)


def _without_wrapper_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` without the prefix that DataParallel (``module.``), torch.compile
    (``_orig_mod.``) or a training framework's wrapper module (``net_g.``, ``generator.``:
    Lightning checkpoints) put before every key."""
    for _ in range(3):  # e.g. module._orig_mod.
        prefix = next((p for p in _KEY_PREFIXES if all(k.startswith(p) for k in state_dict)), None)
        if prefix is None:
            break
        state_dict = {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def _checked(state_dict: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """``state_dict``, or SuperresError naming its first tensor a network cannot use: a NaN or
    Inf weight makes every output pixel NaN (written as black), an integer one loads truncated."""
    for key, tensor in state_dict.items():
        problem = _tensor_problem(tensor, index_buffer=is_index_buffer(key))
        if problem:
            raise SuperresError(f"tensor {_shown(key)} {problem}", path)
    return state_dict


def _tensor_problem(tensor: torch.Tensor, *, index_buffer: bool = False) -> str | None:
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type != "cpu":
        return f"is not a plain tensor ({tensor.layout}, {tensor.dtype}, on {tensor.device.type})"
    if not tensor.is_floating_point():
        integer = not tensor.is_complex() and tensor.dtype != torch.bool
        if integer and (tensor.dim() == 0 or index_buffer):
            return None  # a counter (BatchNorm's num_batches_tracked) or an index table, not a weight
        return f"is {str(tensor.dtype).removeprefix('torch.')}, not floating point"
    if tensor.dtype not in _FLOAT_DTYPES:
        return f"is {str(tensor.dtype).removeprefix('torch.')}, not float16, bfloat16, float32 or float64"
    if not bool(torch.isfinite(tensor).all()):
        return "holds NaN or Inf values: its weights are not finite"
    return None


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
    shown = ", ".join(f"{_shown(k)} {tuple(state_dict[k].shape)}" for k in keys[:3])
    return f"{len(keys)} tensors, first: {shown}"


@dataclass(frozen=True)
class IdentifiedWeights:
    """What a weights file holds, before any network is built: the network and constructor
    parameters it names (a superres file, ``declared``) or its keys match, its model card,
    its safetensors metadata and its state dict (converted to the network's own keys)."""

    arch: str
    params: dict[str, Any]
    card: dict[str, Any]
    metadata: dict[str, str]
    state_dict: dict[str, torch.Tensor]
    declared: bool


def identify_weights(path: str | Path) -> IdentifiedWeights:
    """Read ``path`` and say which network it is; SuperresError when it is none."""
    path = Path(path)
    state_dict, metadata = read_state_dict(path)
    if metadata.get("format") == FORMAT_TAG:
        arch, params, card = _superres_header(metadata, path)
        return IdentifiedWeights(arch, params, card, metadata, state_dict, declared=True)
    found = detect_arch(state_dict)
    if found is None:
        looked_for = ", ".join(s.name for s in detection_order())
        problem = f"matches no known network ({_describe(state_dict)}); looked for: {looked_for}"
        raise SuperresError(problem, path)
    arch, params = found
    convert = spec(arch).convert
    if convert is not None:
        state_dict = convert(state_dict)
    return IdentifiedWeights(arch, params, {}, metadata, state_dict, declared=False)


def load_network(
    path: str | Path, *, scale: int | None = None
) -> tuple[torch.nn.Module, str, dict[str, Any], dict[str, Any]]:
    """Build the network a weights file describes and load its weights.

    Returns ``(network, arch name, arch params, model card)``; raises SuperresError with
    what was found when the file matches no known network or its shapes do not fit.
    A file holding several scales' upsamplers (its parameters list them as ``scales``: CARN's
    release) runs at ``scale`` when it holds it, else at its detected default.
    """
    path = Path(path)
    found = identify_weights(path)
    params = found.params
    held = params.get("scales")
    if scale is not None and isinstance(held, list | tuple) and scale in held:
        params = {**params, "scale": scale}
    network = _network(found.arch, params, found.state_dict, path=path, declared=found.declared)
    return network, found.arch, params, found.card


def fit_problem(arch: str, params: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str | None:
    """Why ``state_dict`` would not load into network ``arch(**params)`` (built on the meta
    device: nothing allocated), or None when it would."""
    problem = _params_problem(params, state_dict)
    if problem is not None:
        return problem
    try:
        with torch.device("meta"):
            expected = build_network(arch, **params).state_dict()
    except Exception as exc:  # a constructor given odd params fails in any way
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return _fit_problem(expected, state_dict)


def _network(
    arch: str, params: dict[str, Any], state_dict: dict[str, torch.Tensor], *, path: Path, declared: bool
) -> torch.nn.Module:
    """Network ``arch(**params)`` holding ``state_dict``; ``declared``: the file's metadata
    names them. Its shapes are compared on the meta device first, so weights that do not fit
    allocate nothing."""
    detail = ", ".join(f"{k}={_shown(v)}" for k, v in params.items())
    claim = f"names {arch} with arch_params {detail}" if declared else f"looks like {arch}({detail})"
    problem = fit_problem(arch, params, state_dict)
    if problem is None:
        try:
            network = build_network(arch, **params)
            network.load_state_dict(state_dict, strict=True)
            return network.eval()
        except (RuntimeError, TypeError, ValueError, KeyError) as exc:
            problem = _first_line(exc)
    raise SuperresError(f"{claim} but the weights do not fit: {problem}", path)


def _fit_problem(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> str | None:
    """What keeps ``found`` from loading where a network holds ``expected``, or None."""
    missing = [k for k in expected if k not in found]
    if missing:
        return f"missing {', '.join(map(_shown, missing[:3]))}" + (" ..." if len(missing) > 3 else "")
    extra = [k for k in found if k not in expected]
    if extra:
        return f"unexpected {', '.join(map(_shown, extra[:3]))}" + (" ..." if len(extra) > 3 else "")
    for key, want in expected.items():
        have = found[key]
        if have.shape != want.shape:
            return f"{_shown(key)} is {tuple(have.shape)}, the network's {tuple(want.shape)}"
        if want.is_floating_point() and not have.is_floating_point():
            return f"{_shown(key)} is {str(have.dtype).removeprefix('torch.')}, not floating point"
    return None


def _params_problem(params: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str | None:
    """Why ``params`` cannot describe a network stored as ``state_dict``, or None. An integer
    over 4096 and larger than both the file's tensor count and its largest dimension counts
    neither layers nor channels of it (and building such a network could take forever)."""
    limit = max(4096, len(state_dict), *(max(t.shape, default=0) for t in state_dict.values()))
    values = list(params.values())
    while values:
        value = values.pop()
        if isinstance(value, list | tuple):
            values.extend(value)
        elif isinstance(value, float) and not math.isfinite(value):
            return f"hold a value that is not finite ({value})"
        elif isinstance(value, int) and abs(value) > limit:
            return f"hold {value}, larger than any layer count or width of the file's tensors"
        elif not isinstance(value, int | float | str | None):
            return f"hold a {type(value).__name__} ({_shown(value)})"
    return None


def _json_object(metadata: dict[str, str], key: str, path: str | Path) -> dict[str, Any]:
    try:
        value = json.loads(metadata.get(key, "{}"))
    except ValueError as exc:
        raise SuperresError(f"superres file's {key} is not valid JSON ({_first_line(exc)})", path) from None
    if not isinstance(value, dict):
        raise SuperresError(f"superres file's {key} is a JSON {type(value).__name__}, not an object", path)
    return value


def _superres_header(metadata: dict[str, str], path: str | Path) -> tuple[str, dict, dict[str, Any]]:
    """Network name, parameters and model card of a superres file's metadata, checked."""
    arch = metadata.get("arch", "")
    if arch not in specs():
        raise SuperresError(f"superres file names unknown network {_shown(arch)!r}", path)
    params = _json_object(metadata, "arch_params", path)
    card = _json_object(metadata, "card", path)
    problem = _card_problem(card)
    if problem:
        raise SuperresError(f"superres file's card {problem}", path)
    return arch, params, card


def _card_problem(card: dict[str, Any]) -> str | None:
    """What is wrong with the card entries loading uses (strength, training.pretrained), or None."""
    strength = card.get("strength", 1.0)
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 <= strength <= 1:
        return f"gives strength {_shown(strength)}, not a number from 0 to 1"
    training = card.get("training", {})
    if not isinstance(training, dict):
        return f"gives training as a {type(training).__name__}, not an object"
    if not isinstance(training.get("pretrained"), str | None):
        return "gives training.pretrained that is not a file name"
    if not isinstance(card.get("kind", ""), str):
        return "gives a kind that is not a name"
    return None


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
    arch, params, card = _superres_header(metadata, path)
    return {
        "arch": arch,
        "arch_params": params,
        "scale": params.get("scale"),
        "kind": card.get("kind", "psnr"),
        "card": card,
    }
