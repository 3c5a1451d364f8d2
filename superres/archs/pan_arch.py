"""PAN (Zhao et al., "Efficient Image Super-Resolution Using Pixel Attention", ECCVW 2020),
key-compatible with the official weights (zhaohengyuan1/PAN).

Widths, block count and (x4 vs x2/x3) upsampling are read from the keys. The x2 and x3
networks have the same tensors (one nearest-neighbour enlargement by the scale), so the
file alone cannot say which it is by shapes: :func:`detect` runs both candidates on a fixed
synthetic picture and keeps the scale that restores it best (see :func:`_probe_scale`).
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec
from superres.resize import imresize

_SLOPE = 0.2  # the official LeakyReLU slope


class PA(nn.Module):
    """Pixel attention: ``x * sigmoid(conv1x1(x))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class PAConv(nn.Module):
    """A 3x3 conv weighted by a pixel-attention map, then another 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.k2 = nn.Conv2d(channels, channels, 1)
        self.k3 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    """Self-calibrated block with pixel attention: two half-width branches (a plain 3x3 conv
    and a PAConv), concatenated, fused by a 1x1 conv, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.conv1_a = nn.Conv2d(channels, half, 1, bias=False)
        self.conv1_b = nn.Conv2d(channels, half, 1, bias=False)
        self.k1 = nn.Sequential(nn.Conv2d(half, half, 3, padding=1, bias=False))
        self.PAConv = PAConv(half)
        self.conv3 = nn.Conv2d(half * 2, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.leaky_relu(self.k1(F.leaky_relu(self.conv1_a(x), _SLOPE)), _SLOPE)
        b = F.leaky_relu(self.PAConv(F.leaky_relu(self.conv1_b(x), _SLOPE)), _SLOPE)
        return self.conv3(torch.cat([a, b], dim=1)) + x


class PAN(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self, scale: int = 4, in_channels: int = 3, nf: int = 40, unf: int = 24, nb: int = 16
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.conv_first = nn.Conv2d(in_channels, nf, 3, padding=1)
        self.SCPA_trunk = nn.Sequential(*(SCPA(nf) for _ in range(nb)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.upconv1 = nn.Conv2d(nf, unf, 3, padding=1)
        self.att1 = PA(unf)
        self.HRconv1 = nn.Conv2d(unf, unf, 3, padding=1)
        if scale == 4:  # two x2 stages; x2 and x3 take one stage
            self.upconv2 = nn.Conv2d(unf, unf, 3, padding=1)
            self.att2 = PA(unf)
            self.HRconv2 = nn.Conv2d(unf, unf, 3, padding=1)
        self.conv_last = nn.Conv2d(unf, in_channels, 3, padding=1)

    def _stage(self, fea: torch.Tensor, factor: int, index: int) -> torch.Tensor:
        fea = getattr(self, f"upconv{index}")(F.interpolate(fea, scale_factor=factor, mode="nearest"))
        fea = F.leaky_relu(getattr(self, f"att{index}")(fea), _SLOPE)
        return F.leaky_relu(getattr(self, f"HRconv{index}")(fea), _SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        if self.scale == 4:
            fea = self._stage(self._stage(fea, 2, 1), 2, 2)
        else:
            fea = self._stage(fea, self.scale, 1)
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.conv_last(fea) + base


_PROBE_SIZE = 48  # a multiple of 2 and 3


def _probe_pictures(channels: int) -> torch.Tensor:
    """Two fixed C x 48 x 48 test pictures in a batch: smooth waves, a sharp-edged coloured disk."""
    n = _PROBE_SIZE
    yy, xx = torch.meshgrid(torch.arange(n) / n, torch.arange(n) / n, indexing="ij")
    waves, disk = [], ((xx - 0.5) ** 2 + (yy - 0.45) ** 2 < 0.08).float()
    for c in range(channels):
        fx, fy, phase = 2.5 + 1.3 * c, 3.1 + 0.9 * c, 0.7 * c
        waves.append(0.5 + 0.25 * torch.sin(fx * xx * 6.283 + phase) * torch.cos(fy * yy * 6.283))
    tint = torch.tensor([1.0, 0.7, 0.3, 0.5])[torch.arange(channels) % 4]
    return torch.stack([torch.stack(waves), 0.2 + 0.6 * disk * tint[:, None, None]])


def _psnr_sum(a: torch.Tensor, b: torch.Tensor, border: int) -> float:
    """The sum over the batch of each picture's PSNR (peak 1), ``border`` pixels cropped."""
    error = (a - b)[..., border:-border, border:-border].double().pow(2).mean(dim=(1, 2, 3))
    return float(-10 * error.clamp(min=1e-12).log10().sum())


def _probe_scale(state_dict: dict[str, torch.Tensor], params: dict) -> int:
    """2 or 3 for a one-stage PAN: the scale at which the network gains more over bicubic on
    :func:`_probe_pictures` shrunk by MATLAB's bicubic. The released files differ by 7 dB or
    more (gains on the two pictures: PANx2 +7.8/+7.3 dB at x2, +3.1/+4.0 at x3; PANx3 -1.0/+4.8
    at x2, +7.5/+6.9 at x3). 2 when the weights cannot run."""
    hr = _probe_pictures(params["in_channels"])
    gains = {}
    try:
        for scale in (2, 3):
            network = PAN(**{**params, "scale": scale})
            network.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
            lr = imresize(hr.double(), 1 / scale).float()
            with torch.no_grad():
                sr = network.eval()(lr)
            bicubic = imresize(lr.double(), scale).float()
            gains[scale] = _psnr_sum(sr, hr, scale) - _psnr_sum(bicubic, hr, scale)
    except Exception:  # weights that do not fit: loading reports it
        return 2
    return 3 if gains[3] > gains[2] else 2


def _block_count(state_dict: dict) -> int:
    """Number of blocks SCPA_trunk.0..N-1, or 0 when they are not numbered so."""
    found = {int(m.group(1)) for k in state_dict if (m := re.match(r"SCPA_trunk\.(\d+)\.", k))}
    return len(found) if found == set(range(len(found))) else 0


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    first, up = conv_shape(state_dict, "conv_first.weight"), conv_shape(state_dict, "upconv1.weight")
    last = conv_shape(state_dict, "conv_last.weight")
    nb = _block_count(state_dict)
    if None in (first, up, last) or not nb or conv_shape(state_dict, "SCPA_trunk.0.PAConv.k3.weight") is None:
        return None
    nf, in_channels = first[:2]
    if up[1] != nf or last[:2] != (in_channels, up[0]) or conv_shape(state_dict, "att1.conv.weight") is None:
        return None
    params = {"scale": 4, "in_channels": in_channels, "nf": nf, "unf": up[0], "nb": nb}
    if "upconv2.weight" not in state_dict:
        params["scale"] = _probe_scale(state_dict, params)
    return params


SPECS = (
    ArchSpec(
        "pan",
        "Zhao et al. 2020, pixel attention network (PAN), 272K parameters",
        PAN,
        detect=detect,
        detect_order=41,
        proof="PANx2/x3/x4_DF2K.pth meet the paper's Set5/Set14/BSD100 within 0.03 dB",
    ),
)
