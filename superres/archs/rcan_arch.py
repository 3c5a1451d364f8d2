"""RCAN (Zhang et al., ECCV 2018), key-compatible with the official RCAN-PyTorch checkpoints.

Residual groups of residual channel-attention blocks (RCAB: conv, ReLU, conv, channel
attention), a long skip over the body, then EDSR's sub-pixel upsampler. The official code
works on pixel values in [0, rgb_range] (255) and subtracts the DIV2K mean with fixed 1x1
convs (``sub_mean``/``add_mean``, stored in the released files); files without them (no mean
shift, as spandrel's ``norm=False``) work on [0, 1]. We scale inside ``forward``, so callers
see [0, 1] either way.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.edsr_arch import MeanShift
from superres.archs.spec import ArchSpec


def _conv(in_ch: int, out_ch: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)


class CALayer(nn.Module):
    """Channel attention: global average pooling, 1x1 squeeze (C/r), ReLU, 1x1 excite, sigmoid."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class RCAB(nn.Module):
    """conv, ReLU, conv, channel attention, plus the input (the official code scales by no
    res_scale here: its ``mul(res_scale)`` is commented out)."""

    def __init__(self, n_feats: int, kernel_size: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(n_feats, n_feats, kernel_size),
            nn.ReLU(inplace=True),
            _conv(n_feats, n_feats, kernel_size),
            CALayer(n_feats, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class ResidualGroup(nn.Module):
    """n_resblocks RCABs and a conv, with a skip over them."""

    def __init__(self, n_feats: int, kernel_size: int, reduction: int, n_resblocks: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [RCAB(n_feats, kernel_size, reduction) for _ in range(n_resblocks)]
        blocks.append(_conv(n_feats, n_feats, kernel_size))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


def upsampler(n_feats: int, scale: int) -> nn.Sequential:
    """EDSR/RCAN's: x2^n: n stages of 3x3 conv (4C) + shuffle(2); x3: conv (9C) + shuffle(3)."""
    layers: list[nn.Module] = []
    if scale == 3:
        layers += [_conv(n_feats, 9 * n_feats, 3), nn.PixelShuffle(3)]
    else:
        for _ in range(int(math.log2(scale))):
            layers += [_conv(n_feats, 4 * n_feats, 3), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


class RCAN(nn.Module):
    """RCAN; the paper's model: 10 groups x 20 blocks, 64 features, reduction 16."""

    supported_scales = (2, 3, 4, 8)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        n_feats: int = 64,
        n_resgroups: int = 10,
        n_resblocks: int = 20,
        *,
        reduction: int = 16,
        kernel_size: int = 3,
        norm: bool = True,
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__()
        if scale not in self.supported_scales:
            raise ValueError(f"RCAN supports x2, x3, x4 and x8, not x{scale}")
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.rgb_range = rgb_range if norm else 1.0
        if norm:
            self.sub_mean = MeanShift(in_channels, rgb_range, -1)
            self.add_mean = MeanShift(in_channels, rgb_range, +1)
        else:
            self.sub_mean = self.add_mean = nn.Identity()
        self.head = nn.Sequential(_conv(in_channels, n_feats, kernel_size))
        body: list[nn.Module] = [
            ResidualGroup(n_feats, kernel_size, reduction, n_resblocks) for _ in range(n_resgroups)
        ]
        body.append(_conv(n_feats, n_feats, kernel_size))
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(upsampler(n_feats, scale), _conv(n_feats, in_channels, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        x = self.body(x) + x
        return self.add_mean(self.tail(x)) / self.rgb_range


# Every key of an RCAN checkpoint has one of these forms: checking them all keeps RCAN from
# claiming EDSR's dicts (same head/body/tail names) and anything else.
_KEY_FORMS = re.compile(
    r"(sub_mean|add_mean|head\.0|tail\.1|tail\.0\.\d+|body\.\d+|body\.\d+\.body\.\d+"
    r"|body\.\d+\.body\.\d+\.body\.[02]|body\.\d+\.body\.\d+\.body\.3\.conv_du\.[02])\.(weight|bias)"
)


def _indices(state_dict: dict, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for k in state_dict if (m := re.match(pattern, k))})


def upsampler_scale(state_dict: dict, prefix: str, n_feats: int) -> int | None:
    """The scale of an :func:`upsampler` stored under ``prefix``: x3 from one conv of 9C
    outputs; x2^n from n convs of 4C at ``prefix``.0, .2, .4 ...; None when it is neither."""
    pattern = rf"{re.escape(prefix)}\.(\d+)\.weight$"
    convs = _indices(state_dict, pattern)
    shapes = [conv_shape(state_dict, f"{prefix}.{i}.weight") for i in convs]
    if not convs or None in shapes or convs != list(range(0, 2 * len(convs), 2)):
        return None
    if len(shapes) == 1 and shapes[0][:2] == (9 * n_feats, n_feats):
        return 3
    if all(s[:2] == (4 * n_feats, n_feats) for s in shapes) and len(shapes) <= 3:
        return 2 ** len(shapes)
    return None


def _rgb_range(state_dict: dict, in_channels: int) -> float | None:
    """255 (the official convention) when sub_mean's bias is -255 x mean; 1 when it is -mean."""
    bias = state_dict.get("sub_mean.bias")
    if not isinstance(bias, torch.Tensor) or not bias.is_floating_point() or bias.shape != (in_channels,):
        return None
    shift = -float(bias.float().mean())
    return 1.0 if abs(shift) < 2 else 255.0


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """Official RCAN keys: head.0, body.G.body.B.body.{0,2,3.conv_du.{0,2}}, body.G.body.B
    (group conv), body.G (last conv), tail.0.* (upsampler), tail.1, and optionally the mean
    shifts. The number of attention channels gives the reduction."""
    if not is_state_dict(state_dict) or not all(_KEY_FORMS.fullmatch(k) for k in state_dict):
        return None
    head = conv_shape(state_dict, "head.0.weight")
    attention = conv_shape(state_dict, "body.0.body.0.body.3.conv_du.0.weight")
    if head is None or attention is None or conv_shape(state_dict, "tail.1.weight") is None:
        return None
    n_feats, in_channels, kernel_size = head[:3]
    groups = _indices(state_dict, r"body\.(\d+)\.body\.")
    blocks = _indices(state_dict, r"body\.0\.body\.(\d+)\.body\.")
    if groups != list(range(len(groups))) or blocks != list(range(len(blocks))):
        return None
    squeezed = attention[0]
    if attention[1] != n_feats or n_feats % squeezed:
        return None
    scale = upsampler_scale(state_dict, "tail.0", n_feats)
    norm = "sub_mean.weight" in state_dict or "add_mean.weight" in state_dict
    rgb_range = _rgb_range(state_dict, in_channels) if norm else 255.0
    if scale is None or rgb_range is None:
        return None
    return {
        "scale": scale,
        "in_channels": in_channels,
        "n_feats": n_feats,
        "n_resgroups": len(groups),
        "n_resblocks": len(blocks),
        "reduction": n_feats // squeezed,
        "kernel_size": kernel_size,
        "norm": norm,
        "rgb_range": rgb_range,
    }


SPECS = (
    ArchSpec(
        "rcan",
        "Zhang et al. 2018, residual channel attention (10 groups x 20 blocks, 64 features)",
        RCAN,
        detect=detect,
        detect_order=80,
        # Channel attention pools over the whole input, so tiles differ slightly from a whole run.
        tiles_equal_whole=False,
        proof="vectors RCAN_50 (x4), RCAN_51 (x2) match to 1e-4",
    ),
)
