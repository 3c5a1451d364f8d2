"""RRDBNet: the ESRGAN / Real-ESRGAN generator (Wang et al. 2018, 2021).

Our key names are Real-ESRGAN's (``conv_first``, ``body.N.rdbK.convJ``, ``conv_body``,
``conv_upN``, ``conv_hr``, ``conv_last``). ``convert`` renames the two older layouts:
original ESRGAN (``model.0``, ``model.1.sub.N.RDBk.convj.0``, ...) and the later ESRGAN
repo (``RRDB_trunk``, ``trunk_conv``, ``upconvN``, ``HRconv``).
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(num_feat + i * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i in range(4):
            conv = getattr(self, f"conv{i + 1}")
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """RRDBNet with ``2**num_upsample / unshuffle`` = scale.

    Real-ESRGAN's x2 and x1 models first pixel-unshuffle the input by 2 or 4 and always use
    two nearest+conv x2 stages (that is the default here); old ESRGAN x2 files use one
    stage and no unshuffle (``unshuffle=1``).
    """

    supported_scales = (1, 2, 4, 8)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int | None = None,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        unshuffle: int | None = None,
    ) -> None:
        super().__init__()
        if unshuffle is None:
            unshuffle = {1: 4, 2: 2}.get(scale, 1)
        num_upsample = round(math.log2(scale * unshuffle))
        if 2**num_upsample != scale * unshuffle:
            raise ValueError(f"scale {scale} with unshuffle {unshuffle} is not a power of two")
        self.scale = scale
        self.unshuffle = unshuffle
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.conv_first = nn.Conv2d(in_channels * unshuffle * unshuffle, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(num_upsample):
            self.add_module(f"conv_up{i + 1}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.num_upsample = num_upsample
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, self.out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.unshuffle > 1:
            # Unshuffle needs sides divisible by the factor: mirror-pad, crop the output after.
            pad_h, pad_w = -height % self.unshuffle, -width % self.unshuffle
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.num_upsample):
            conv = getattr(self, f"conv_up{i + 1}")
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
        return out[..., : height * self.scale, : width * self.scale]


def _convert_original_esrgan(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``model.N`` layout: 0 conv_first, 1.sub.i RRDBs (+ trunk conv last), then
    upconvs every third index from 3, then HR conv and last conv two apart."""
    trunk = [int(m.group(1)) for k in state_dict if (m := re.match(r"model\.1\.sub\.(\d+)\.weight", k))]
    trunk_index = max(trunk)
    tail_indices = sorted({int(k.split(".")[1]) for k in state_dict if re.match(r"model\.\d+\.weight", k)})
    tail_indices = [i for i in tail_indices if i >= 2]
    *up_indices, hr_index, last_index = tail_indices
    names = {f"model.{i}.": f"conv_up{n + 1}." for n, i in enumerate(up_indices)}
    names.update(
        {"model.0.": "conv_first.", f"model.{hr_index}.": "conv_hr.", f"model.{last_index}.": "conv_last."}
    )
    names[f"model.1.sub.{trunk_index}."] = "conv_body."
    out = {}
    for key, value in state_dict.items():
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
            continue
        for old, new in names.items():
            if key.startswith(old):
                out[new + key[len(old) :]] = value
                break
        else:
            raise KeyError(f"unexpected ESRGAN key {key}")
    return out


_LATER_ESRGAN_NAMES = [
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv(\d)\.", r"conv_up\1."),
    (r"^HRconv\.", "conv_hr."),
]


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename old ESRGAN layouts to ours; other dicts pass through unchanged."""
    if "model.0.weight" in state_dict and any(k.startswith("model.1.sub.") for k in state_dict):
        return _convert_original_esrgan(state_dict)
    if "trunk_conv.weight" in state_dict:
        renamed = {}
        for key, value in state_dict.items():
            for pattern, repl in _LATER_ESRGAN_NAMES:
                key = re.sub(pattern, repl, key)
            renamed[key] = value
        return renamed
    return state_dict


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    try:
        state_dict = convert(state_dict)
    except (ValueError, KeyError):  # model.N keys that are not the original ESRGAN's
        return None
    first, last = conv_shape(state_dict, "conv_first.weight"), conv_shape(state_dict, "conv_last.weight")
    grow = conv_shape(state_dict, "body.0.rdb1.conv1.weight")
    if first is None or last is None or grow is None:
        return None
    num_feat, first_in = first[:2]
    out_channels, num_grow_ch = last[0], grow[0]
    num_block = len({k.split(".")[1] for k in state_dict if k.startswith("body.")})
    num_upsample = len([k for k in state_dict if re.fullmatch(r"conv_up\d+\.weight", k)])
    in_channels = out_channels  # assume in == out; the unshuffle factor follows
    unshuffle = math.isqrt(int(first_in) // int(in_channels))
    if unshuffle * unshuffle * in_channels != first_in:
        return None
    scale = 2**num_upsample // unshuffle
    if scale < 1:
        return None
    return {
        "scale": scale,
        "in_channels": int(in_channels),
        "out_channels": int(out_channels),
        "num_feat": int(num_feat),
        "num_block": num_block,
        "num_grow_ch": int(num_grow_ch),
        "unshuffle": unshuffle,
    }


SPECS = (
    ArchSpec(
        "rrdbnet",
        "ESRGAN / Real-ESRGAN generator",
        RRDBNet,
        detect=detect,
        detect_order=1,
        convert=convert,
        proof="realesrgan-x4plus (Real-ESRGAN's file) detected, faithful GAN output on Set5 (slow test)",
    ),
)
