"""Reading a third-party state dict defensively, for the networks' ``detect`` functions: each
returns None for anything that is not its network, whatever the file holds."""

from __future__ import annotations

from typing import Any

import torch


def is_index_buffer(key: str) -> bool:
    """Whether ``key`` names an integer index table a released file may hold beside its weights
    (``relative_position_index`` and kin of window-attention networks); the networks recompute
    these rather than trust the file's."""
    return "index" in key.rsplit(".", 1)[-1]


def is_state_dict(state_dict: Any) -> bool:
    """A dict of floating-point tensors named by strings (integer scalars and index tables
    allowed)."""
    return isinstance(state_dict, dict) and all(
        isinstance(k, str)
        and isinstance(v, torch.Tensor)
        and (v.is_floating_point() or v.dim() == 0 or (is_index_buffer(k) and not v.is_complex()))
        for k, v in state_dict.items()
    )


def shape_of(state_dict: dict[str, Any], key: str, rank: int) -> tuple[int, ...] | None:
    """Shape of floating-point tensor ``key`` when it has ``rank`` dimensions, all non-zero;
    None when it is missing or anything else."""
    tensor = state_dict.get(key)
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.dim() != rank:
        return None
    shape = tuple(int(d) for d in tensor.shape)
    return shape if min(shape, default=1) > 0 else None


def conv_shape(state_dict: dict[str, torch.Tensor], key: str) -> tuple[int, int, int, int] | None:
    """(out, in, kh, kw) of the conv weight ``key``, or None when it is missing, not a
    4-D floating-point tensor, or has a zero size."""
    shape = shape_of(state_dict, key, 4)
    return None if shape is None else (shape[0], shape[1], shape[2], shape[3])
