"""Enhanced spatial attention (ESA, Liu et al., RFANet, CVPR 2020) as RFDN and RLFN use it,
key-compatible with their released weights; shared by :mod:`rfdn_arch` and :mod:`rlfn_arch`."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

_POOL = 7  # the max-pool window (stride 3) over the stride-2 features


def _at_least(x: torch.Tensor, size: int, *, value: float | None = None) -> torch.Tensor:
    """``x`` padded at the bottom and right to at least ``size`` x ``size``: with ``value``
    (constant), else by repeating the last row/column. A no-op where it is already that big,
    so inputs the official code accepts (15 pixels and more) run unchanged."""
    pad_h, pad_w = max(0, size - x.shape[-2]), max(0, size - x.shape[-1])
    if not pad_h and not pad_w:
        return x
    if value is None:
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return F.pad(x, (0, pad_w, 0, pad_h), value=value)


class ESA(nn.Module):
    """A mask from a strided, max-pooled, bilinearly re-enlarged branch: ``x * sigmoid(...)``.

    ``full`` (RFDN's): two more 3x3 convs (``conv_max``, ``conv3_``) with ReLUs on the pooled
    branch; RLFN dropped them. The official code needs inputs of 15 pixels or more (a 3x3
    stride-2 conv without padding, then a 7x7 stride-3 max pool); smaller ones pad the
    branch (repeat the edge before the strided conv, -inf before the pool, so the pool takes
    the maximum over what there is)."""

    def __init__(self, channels: int, esa_channels: int, *, full: bool) -> None:
        super().__init__()
        f = esa_channels
        self.full = full
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        if full:
            self.conv_max = nn.Conv2d(f, f, 3, padding=1)
            self.conv3_ = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = self.conv2(_at_least(c1_, 3))
        pooled = F.max_pool2d(_at_least(c1, _POOL, value=-torch.inf), kernel_size=_POOL, stride=3)
        if self.full:
            c3 = self.conv3_(F.relu(self.conv3(F.relu(self.conv_max(pooled)))))
        else:
            c3 = self.conv3(pooled)
        c3 = F.interpolate(c3, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
