"""CARN and CARN-M (Ahn et al., ECCV 2018), key-compatible with the released checkpoints
(nmhkahn/CARN-pytorch ``carn.pth``, ``carn_m.pth``).

Cascading residual network: three cascading blocks, each cascading three residual units;
at both levels, every unit's output is concatenated with all earlier ones and fused back to
C channels by a 1x1 conv + ReLU. CARN's units are residual blocks (conv, ReLU, conv, add,
ReLU); CARN-M's are "efficient" blocks (grouped 3x3, ReLU, grouped 3x3, ReLU, 1x1, add, ReLU),
and one unit's weights serve all three places of its block (the official ``Block`` calls
``self.b1`` three times). The network works on [0, 1] and subtracts the DIV2K mean with a
fixed 1x1 conv (``sub_mean.shifter``).

The released files are multi-scale: one body and three upsampling branches
(``upsample.up2``, ``.up3``, ``.up4``); the official ``forward(x, scale)`` picks one per call.
Here the network is built for one ``scale`` (default 4) with every branch the file holds
(``scales``), so the file loads as it is and ``scale`` chooses the branch:
``load_model(path, scale=2)`` runs x2 (superres.weights.load_network passes a requested
scale to files whose detected parameters list ``scales``). Single-scale files
(``upsample.up``, the official ``multi_scale=False``) have ``scales=None``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
RELEASED_SCALES = (2, 3, 4)


class MeanShift(nn.Module):
    """Adds (sign=+1) or subtracts (sign=-1) the DIV2K mean: a fixed 1x1 conv, as released."""

    def __init__(self, sign: int) -> None:
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.shifter.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.shifter.bias.copy_(sign * torch.tensor(DIV2K_RGB_MEAN))
        self.shifter.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class BasicBlock(nn.Module):
    """1x1 conv + ReLU fusing a concatenation back to C channels."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ResidualBlock(nn.Module):
    """CARN's unit: relu(x + conv(relu(conv(x))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class EResidualBlock(nn.Module):
    """CARN-M's unit: grouped 3x3, ReLU, grouped 3x3, ReLU, 1x1 (pointwise), add, ReLU."""

    def __init__(self, channels: int, group: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


def _cascade(x: torch.Tensor, units: Sequence[nn.Module], joins: Sequence[nn.Module]) -> torch.Tensor:
    """Each unit runs on the last fused output; its output joins the running concatenation
    (which starts with ``x``), and a 1x1 join fuses that into the next unit's input."""
    stack = out = x
    for unit, join in zip(units, joins, strict=True):
        stack = torch.cat([stack, unit(out)], dim=1)
        out = join(stack)
    return out


def _joins(module: nn.Module, channels: int) -> None:
    """The 1x1 fusions c1, c2, c3 (2C, 3C, 4C inputs)."""
    module.c1 = BasicBlock(2 * channels, channels)
    module.c2 = BasicBlock(3 * channels, channels)
    module.c3 = BasicBlock(4 * channels, channels)


class Block(nn.Module):
    """CARN's cascading block: three residual blocks b1, b2, b3."""

    def __init__(self, channels: int, group: int = 1) -> None:
        super().__init__()
        del group  # CARN's residual blocks are not grouped (only its upsampler is)
        self.b1, self.b2, self.b3 = (ResidualBlock(channels) for _ in range(3))
        _joins(self, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cascade(x, (self.b1, self.b2, self.b3), (self.c1, self.c2, self.c3))


class EBlock(nn.Module):
    """CARN-M's cascading block: ONE efficient residual block b1, applied three times."""

    def __init__(self, channels: int, group: int) -> None:
        super().__init__()
        self.b1 = EResidualBlock(channels, group)
        _joins(self, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cascade(x, (self.b1, self.b1, self.b1), (self.c1, self.c2, self.c3))


class UpsampleBranch(nn.Module):
    """One scale's upsampler: x2^n: n x (grouped conv to 4C, ReLU, shuffle 2); x3: 9C, shuffle 3."""

    def __init__(self, channels: int, scale: int, group: int) -> None:
        super().__init__()
        factors = [3] if scale == 3 else [2] * int(math.log2(scale))
        layers: list[nn.Module] = []
        for f in factors:
            layers += [
                nn.Conv2d(channels, f * f * channels, 3, padding=1, groups=group),
                nn.ReLU(inplace=True),
                nn.PixelShuffle(f),
            ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CARN(nn.Module):
    """CARN (1.6M parameters for one scale). ``scales``: the upsampling branches held (the
    released file: 2, 3, 4), None for a single-scale file; ``scale`` picks the branch run."""

    supported_scales = RELEASED_SCALES
    _block = Block

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        num_feat: int = 64,
        *,
        group: int = 1,
        scales: Sequence[int] | None = RELEASED_SCALES,
    ) -> None:
        super().__init__()
        if in_channels != 3:
            raise ValueError("CARN works on RGB (its mean shift is 3-channel)")
        if scales is not None and scale not in scales:
            raise ValueError(f"this CARN holds x{', x'.join(map(str, scales))} branches, not x{scale}")
        if scale not in (2, 3, 4, 8):
            raise ValueError(f"CARN upsamples x2, x3, x4 or x8, not x{scale}")
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.sub_mean, self.add_mean = MeanShift(-1), MeanShift(+1)
        self.entry = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        self.b1, self.b2, self.b3 = (self._block(num_feat, group) for _ in range(3))
        _joins(self, num_feat)
        self.upsample = nn.Module()
        if scales is None:
            self.upsample.up = UpsampleBranch(num_feat, scale, group)
        for s in scales or ():
            setattr(self.upsample, f"up{s}", UpsampleBranch(num_feat, s, group))
        self.branch = "up" if scales is None else f"up{scale}"
        self.exit = nn.Conv2d(num_feat, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry(self.sub_mean(x))
        x = _cascade(x, (self.b1, self.b2, self.b3), (self.c1, self.c2, self.c3))
        x = getattr(self.upsample, self.branch)(x)
        return self.add_mean(self.exit(x))


class CARNM(CARN):
    """CARN-M, the mobile CARN (412K parameters for one scale): efficient residual blocks
    with grouped convs (the released file: group 4), one shared unit per block."""

    _block = EBlock

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        num_feat: int = 64,
        *,
        group: int = 4,
        scales: Sequence[int] | None = RELEASED_SCALES,
    ) -> None:
        super().__init__(scale, in_channels, num_feat, group=group, scales=scales)


_CARN_KEYS = re.compile(
    r"((sub|add)_mean\.shifter|entry|exit|c[123]\.body\.0|b[123]\.c[123]\.body\.0"
    r"|b[123]\.b[123]\.body\.[02]|upsample\.up\d?\.body\.\d)\.(weight|bias)"
)
_CARN_M_KEYS = re.compile(
    r"((sub|add)_mean\.shifter|entry|exit|c[123]\.body\.0|b[123]\.c[123]\.body\.0"
    r"|b[123]\.b1\.body\.[024]|upsample\.up\d?\.body\.\d)\.(weight|bias)"
)


def _branch_scale(state_dict: dict, prefix: str, num_feat: int, group: int) -> int | None:
    """The scale of the upsampling branch at ``prefix`` (convs at body.0, .3, .6: 4C each for
    x2^n; one 9C conv for x3), or None when its convs do not fit one."""
    pattern = rf"{re.escape(prefix)}\.body\.(\d+)\.weight$"
    indices = sorted({int(m.group(1)) for k in state_dict if (m := re.match(pattern, k))})
    shapes = [conv_shape(state_dict, f"{prefix}.body.{i}.weight") for i in indices]
    if not indices or None in shapes or indices != list(range(0, 3 * len(indices), 3)) or len(indices) > 3:
        return None
    if any(s[1] * group != num_feat for s in shapes):
        return None
    if len(shapes) == 1 and shapes[0][0] == 9 * num_feat:
        return 3
    return 2 ** len(shapes) if all(s[0] == 4 * num_feat for s in shapes) else None


def _detect(state_dict: dict, keys: re.Pattern, unit: str) -> dict | None:
    if not is_state_dict(state_dict) or not all(keys.fullmatch(k) for k in state_dict):
        return None
    entry, unit_conv = conv_shape(state_dict, "entry.weight"), conv_shape(state_dict, unit)
    if entry is None or unit_conv is None or conv_shape(state_dict, "exit.weight") is None:
        return None
    num_feat, in_channels = entry[:2]
    branches = sorted({m.group(1) for k in state_dict if (m := re.match(r"upsample\.(up\d?)\.", k))})
    up = conv_shape(state_dict, f"upsample.{branches[0]}.body.0.weight") if branches else None
    if up is None or up[1] <= 0 or num_feat % up[1] or in_channels != 3:
        return None
    group = num_feat // up[1]
    found = {b: _branch_scale(state_dict, f"upsample.{b}", num_feat, group) for b in branches}
    if None in found.values():
        return None
    if branches == ["up"]:
        scale, scales = found["up"], None
    elif "up" not in branches and all(found[b] == int(b[2:]) for b in branches):
        scales = [found[b] for b in branches]
        scale = 4 if 4 in scales else max(scales)  # the default; load_model(scale=...) picks another
    else:
        return None
    return {
        "scale": scale,
        "in_channels": in_channels,
        "num_feat": num_feat,
        "group": group,
        "scales": scales,
    }


def detect_carn(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """CARN: cascading blocks of three residual blocks (b1.b1, b1.b2, b1.b3; body.0 and .2)."""
    if not isinstance(state_dict, dict) or "b1.b2.body.0.weight" not in state_dict:
        return None
    return _detect(state_dict, _CARN_KEYS, "b1.b1.body.2.weight")


def detect_carn_m(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """CARN-M: one efficient residual block per cascading block (b1.b1: body.0, .2, .4)."""
    if not isinstance(state_dict, dict):
        return None
    found = _detect(state_dict, _CARN_M_KEYS, "b1.b1.body.4.weight")
    unit = conv_shape(state_dict, "b1.b1.body.0.weight") if found else None
    if found is None or unit is None or unit[1] * found["group"] != found["num_feat"]:
        return None  # CARN-M groups its residual convs as its upsampler's
    return found


_PROOF = "matches the official code's output (seeded vector tests/archs/data/carn/{}) to 1e-4"
SPECS = (
    ArchSpec(
        "carn",
        "Ahn et al. 2018, cascading residual network (multi-scale file: x2/x3/x4 branches)",
        CARN,
        detect=detect_carn,
        detect_order=81,
        proof=_PROOF.format("carn_*"),
    ),
    ArchSpec(
        "carn_m",
        "Ahn et al. 2018, CARN-M: mobile CARN, grouped efficient residual blocks",
        CARNM,
        detect=detect_carn_m,
        detect_order=82,
        # The released carn_m.pth (upstream checkpoint/, not in ../shared) ran identically to
        # the official code, and scored Set5/Set14/B100 x4 31.88/28.42/27.45 (paper 31.92/
        # 28.42/27.44), x3 34.06/30.10/28.94 (33.99/30.08/28.91), x2 37.68/33.30/31.98
        # (37.53/33.26/31.92); Set14 with gray images as RGB, as upstream's loader reads them.
        # The release is a retrained model (README: larger batches, grouped upsampler).
        proof=_PROOF.format("carn_m_*"),
    ),
)
