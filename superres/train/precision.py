"""``train.precision``: fp32, bf16 autocast, or ``auto`` (bf16 where the device runs it fast)."""

from __future__ import annotations

import torch

from superres.models import cpu_has_native_bf16


def training_precision(precision: str, device: torch.device) -> str:
    """The precision ``train.precision`` means on ``device``: ``auto`` is bf16 where bf16 is
    fast (CUDA devices that support it, CPUs with native bf16), else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def precision_notice(precision: str, device: torch.device) -> str | None:
    """What to tell the user about ``train.precision`` on ``device``: the choice ``auto`` made,
    or a warning that bf16 is slow on a CPU without native bf16; None when there is nothing."""
    if precision == "auto":
        return f"train.precision auto: {training_precision(precision, device)} on this {device.type}"
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        return (
            "warning: train.precision is bf16, but this CPU has no native bf16"
            " (AVX-512 BF16 or AMX), so training runs several times slower than with"
            " --set train.precision=fp32"
        )
    return None
