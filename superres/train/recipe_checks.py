"""Recipe checks that need more than the field types: the run's name, the network's and the
discriminator's parameters (against their constructors' signatures), optimizer settings and
upper bounds on sizes. Each raises SuperresError naming the key."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from superres.errors import SuperresError

PARAM_INT_RANGE = (1, 1024)  # widths, depths, channels of a network or discriminator
PARAM_FLOAT_RANGE = (0.0, 1e4)  # exclusive low: res_scale, rgb_range, depth_multiplier
PARAM_LIST_MAX = 16
MAX_PARAMETERS = 500_000_000  # a network beyond this would not fit in memory to train
MAX_LR = 1.0


def check_run_name(name: str) -> None:
    """``name`` names the run folder and the model file in it: a plain file name only."""
    plain = (
        name not in ("", ".", "..")
        and PurePosixPath(name).name == name
        and PureWindowsPath(name).name == name
        and "\0" not in name
    )
    if not plain:
        raise SuperresError(f"name must be a plain file name, got {name!r}")


def _annotation_kind(annotation: Any) -> tuple[str, bool]:
    """('int' | 'float' | 'bool' | 'str' | 'ints', nullable) from a constructor annotation."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    kinds = {part.strip() for part in text.split("|")}
    nullable = "None" in kinds
    kinds.discard("None")
    if any(kind.startswith(("list[", "tuple[")) for kind in kinds):
        return "ints", nullable
    return (kinds.pop() if len(kinds) == 1 else "any"), nullable


def _is_int(value: Any) -> bool:
    low, high = PARAM_INT_RANGE
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _param_problem(kind: str, value: Any) -> str | None:
    """What is wrong with ``value`` for a parameter of ``kind``, or None."""
    low, high = PARAM_INT_RANGE
    if kind == "int" and not _is_int(value):
        return f"must be an integer from {low} to {high}, got {value!r}"
    if kind == "float":
        flow, fhigh = PARAM_FLOAT_RANGE
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and flow < value <= fhigh):
            return f"must be a number above {flow:g} and at most {fhigh:g}, got {value!r}"
    if kind == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if kind == "str" and not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if kind == "ints" and not (
        isinstance(value, list) and 1 <= len(value) <= PARAM_LIST_MAX and all(map(_is_int, value))
    ):
        return f"must be a list of 1 to {PARAM_LIST_MAX} integers from {low} to {high}, got {value!r}"
    return None


def check_constructor_params(
    builder: Callable[..., Any], params: Any, *, key: str, what: str, build: bool = True
) -> None:
    """``params`` for ``builder``: a mapping of its parameters, each of its annotated type and
    in a sane range; then (``build``) ``builder`` must build with them (on the meta device: no
    memory) and hold at most MAX_PARAMETERS parameters."""
    if not isinstance(params, dict):
        raise SuperresError(f"{key} must be a mapping of {what}'s parameters, got {params!r}")
    signature = inspect.signature(builder)
    accepted = {
        name: p for name, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    for name, value in params.items():
        if name not in accepted:
            raise SuperresError(f"{key}.{name}: {what} has no such parameter; it takes {', '.join(accepted)}")
        kind, nullable = _annotation_kind(accepted[name].annotation)
        problem = None if value is None and nullable else _param_problem(kind, value)
        if problem:
            raise SuperresError(f"{key}.{name} {problem}")
    if not build:
        return
    import torch

    try:
        with torch.device("meta"):
            module = builder(**params)
    except (ValueError, TypeError, KeyError, AssertionError, NotImplementedError, RuntimeError) as exc:
        raise SuperresError(f"{key}: {what} cannot be built with these ({exc})") from None
    count = sum(p.numel() for p in module.parameters())
    if count > MAX_PARAMETERS:
        raise SuperresError(f"{key}: {what} would have {count:,} parameters; at most {MAX_PARAMETERS:,}")


def check_optimizer_values(key: str, lr: float, betas: list[float], weight_decay: float) -> None:
    """An optimizer's learning rate, betas and weight decay (all finite: the field types say so)."""
    if not 0 <= lr <= MAX_LR:
        raise SuperresError(f"{key}.lr must be at {'least 0' if lr < 0 else f'most {MAX_LR:g}'}, got {lr}")
    if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
        raise SuperresError(f"{key}.betas must be two numbers from 0 to below 1, got {betas}")
    if not weight_decay >= 0:
        raise SuperresError(f"{key}.weight_decay must be at least 0, got {weight_decay}")
