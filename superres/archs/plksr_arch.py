"""PLKSR (Lee et al. 2024, "Partial Large Kernel CNNs for Efficient Super-Resolution"),
key-compatible with the official checkpoints (dslisleedh/PLKSR, including the ``channe_mixer``
spelling of its keys).

Each block: a channel mixer (3x3 conv to 2C, GELU, conv back to C; CCM/ICCM/DCCM differ in
which of the two convs is 3x3), a large-kernel conv over the first ``split_channels`` channels
only (PLK), element-wise attention (x * sigmoid(conv3x3(x))) and a 1x1 refinement, plus the
block's input. The image path: conv3x3 to ``dim``, the blocks, conv3x3 to 3*s*s, plus the
input repeated s*s times per channel, pixel shuffle.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.misc_common import ChannelLayerNorm, DySample, fits, indices
from superres.archs.spec import ArchSpec

# Kernel sizes (first, second conv) of the channel mixer kinds.
_MIXERS = {"CCM": (3, 1), "ICCM": (1, 3), "DCCM": (3, 3)}


def _mixer(dim: int, kind: str) -> nn.Sequential:
    first, second = _MIXERS[kind]
    return nn.Sequential(
        nn.Conv2d(dim, dim * 2, first, padding=first // 2),
        nn.GELU(),
        nn.Conv2d(dim * 2, dim, second, padding=second // 2),
    )


class PartialConv(nn.Module):
    """A square large-kernel conv (``with_idt``: plus identity) over the first channels."""

    def __init__(self, channels: int, kernel_size: int, with_idt: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.with_idt = with_idt
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, tail = x[:, : self.channels], x[:, self.channels :]
        out = self.conv(head)
        if self.with_idt:
            out = out + head
        return torch.cat([out, tail], dim=1)


class RectSparsePartialConv(nn.Module):
    """The SLaK-style ablation: k x k/3, k/3 x k and k/3 x k/3 convs summed, first channels."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.channels = channels
        m, n = kernel_size, kernel_size // 3
        self.mn_conv = nn.Conv2d(channels, channels, (m, n), padding=(m // 2, n // 2))
        self.nm_conv = nn.Conv2d(channels, channels, (n, m), padding=(n // 2, m // 2))
        self.nn_conv = nn.Conv2d(channels, channels, (n, n), padding=(n // 2, n // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, tail = x[:, : self.channels], x[:, self.channels :]
        out = self.mn_conv(head) + self.nm_conv(head) + self.nn_conv(head)
        return torch.cat([out, tail], dim=1)


class ElementAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.f(x)


class PLKBlock(nn.Module):
    def __init__(self, dim: int, options: dict) -> None:
        super().__init__()
        self.channe_mixer = _mixer(dim, options["ccm_type"])
        if options["lk_type"] == "RectSparsePLK":
            self.lk = RectSparsePartialConv(options["split_channels"], options["kernel_size"])
        else:
            self.lk = PartialConv(options["split_channels"], options["kernel_size"], options["with_idt"])
        self.attn = ElementAttention(dim) if options["use_ea"] else nn.Identity()
        self.refine = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.refine(self.attn(self.lk(self.channe_mixer(x)))) + x


class PLKSR(nn.Module):
    supported_scales = (1, 2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        dim: int = 64,
        n_blocks: int = 28,
        *,
        ccm_type: str = "DCCM",  # the released PLKSR and PLKSR-tiny use DCCM
        kernel_size: int = 17,
        split_channels: int | None = None,
        lk_type: str = "PLK",
        use_ea: bool = True,
        with_idt: bool = False,
    ) -> None:
        super().__init__()
        if ccm_type not in _MIXERS or lk_type not in ("PLK", "RectSparsePLK"):
            raise ValueError(f"PLKSR: unknown ccm_type {ccm_type!r} or lk_type {lk_type!r}")
        self.scale = scale
        self.in_channels = self.out_channels = 3
        options = {
            "ccm_type": ccm_type,
            "kernel_size": kernel_size,
            "split_channels": dim // 4 if split_channels is None else split_channels,
            "lk_type": lk_type,
            "use_ea": use_ea,
            "with_idt": with_idt,
        }
        self.feats = nn.Sequential(
            nn.Conv2d(3, dim, 3, padding=1),
            *[PLKBlock(dim, options) for _ in range(n_blocks)],
            nn.Conv2d(dim, 3 * scale * scale, 3, padding=1),
        )
        self.to_img = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = torch.repeat_interleave(x, self.scale * self.scale, dim=1)
        return self.to_img(self.feats(x) + base)


class RealPLKBlock(nn.Module):
    """RealPLKSR's block: [channel LayerNorm,] DCCM with Mish, partial large-kernel conv,
    [element attention,] 1x1 refinement, [GroupNorm,] plus the input."""

    def __init__(self, dim: int, options: dict) -> None:
        super().__init__()
        self.layer_norm = ChannelLayerNorm(dim) if options["layer_norm"] else nn.Identity()
        self.channel_mixer = nn.Sequential(
            nn.Conv2d(dim, dim * 2, 3, padding=1), nn.Mish(), nn.Conv2d(dim * 2, dim, 3, padding=1)
        )
        self.lk = PartialConv(options["split_channels"], options["kernel_size"])
        self.attn = ElementAttention(dim) if options["use_ea"] else nn.Identity()
        self.refine = nn.Conv2d(dim, dim, 1)
        self.norm = nn.Identity() if options["layer_norm"] else nn.GroupNorm(options["norm_groups"], dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lk(self.channel_mixer(self.layer_norm(x)))
        return self.norm(self.refine(self.attn(y))) + x


class RealPLKSR(nn.Module):
    """The community variant (traiNNer-redux / neosr, widely used on OpenModelDB): PLKSR with
    DCCM/Mish mixers, a GroupNorm (or a leading LayerNorm) per block, a dropout slot before
    the last conv, and optionally DySample in place of the pixel shuffle."""

    supported_scales = (1, 2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        dim: int = 64,
        n_blocks: int = 28,
        *,
        kernel_size: int = 17,
        split_channels: int | None = None,
        use_ea: bool = True,
        norm_groups: int = 4,
        layer_norm: bool = False,
        dysample: bool = False,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = 3
        options = {
            "kernel_size": kernel_size,
            "split_channels": dim // 4 if split_channels is None else split_channels,
            "use_ea": use_ea,
            "norm_groups": norm_groups,
            "layer_norm": layer_norm,
        }
        self.feats = nn.Sequential(
            nn.Conv2d(3, dim, 3, padding=1),
            *[RealPLKBlock(dim, options) for _ in range(n_blocks)],
            nn.Dropout2d(0.0),  # training-only; keeps the released index of the last conv
            nn.Conv2d(dim, 3 * scale * scale, 3, padding=1),
        )
        if dysample:
            groups = 3 if scale % 2 else 4
            self.to_img = DySample(3 * scale * scale, 3, scale, groups=groups, end_conv=scale != 1)
        else:
            self.to_img = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = torch.repeat_interleave(x, self.scale * self.scale, dim=1)
        return self.to_img(self.feats(x) + base)


def _mixer_kind(state_dict: dict, prefix: str) -> str | None:
    first = conv_shape(state_dict, f"{prefix}.0.weight")
    second = conv_shape(state_dict, f"{prefix}.2.weight")
    if first is None or second is None:
        return None
    kinds = {sizes: kind for kind, sizes in _MIXERS.items()}
    return kinds.get((first[2], second[2]))


def _large_kernel(state_dict: dict) -> dict | None:
    square = conv_shape(state_dict, "feats.1.lk.conv.weight")
    rect = conv_shape(state_dict, "feats.1.lk.mn_conv.weight")
    if square is not None:
        return {"lk_type": "PLK", "kernel_size": square[2], "split_channels": square[0]}
    if rect is not None:
        return {"lk_type": "RectSparsePLK", "kernel_size": rect[2], "split_channels": rect[0]}
    return None  # SparsePLK (dilated sub-kernels) is not recoverable from shapes


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """``feats``: conv, PLK blocks (``channe_mixer``, ``lk``, ``refine``), conv to 3*s*s."""
    if not is_state_dict(state_dict) or "feats.1.channe_mixer.0.weight" not in state_dict:
        return None
    first = conv_shape(state_dict, "feats.0.weight")
    layers = indices(state_dict, "feats")
    ccm_type = _mixer_kind(state_dict, "feats.1.channe_mixer")
    lk = _large_kernel(state_dict)
    if first is None or first[1] != 3 or len(layers) < 3 or ccm_type is None or lk is None:
        return None
    last = conv_shape(state_dict, f"feats.{layers[-1]}.weight")
    scale = math.isqrt(last[0] // 3) if last else 0
    if scale < 1 or 3 * scale * scale != last[0]:
        return None
    params = {
        "scale": scale,
        "dim": first[0],
        "n_blocks": len(layers) - 2,
        "ccm_type": ccm_type,
        **lk,
        "use_ea": "feats.1.attn.f.0.weight" in state_dict,
        # with_idt (identity added to the large-kernel conv) leaves no trace: the released
        # models are trained without it.
    }
    return params if fits(PLKSR, params, state_dict) else None


def detect_real(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """RealPLKSR: ``feats`` conv, blocks (``channel_mixer``, ``lk.conv``, ``refine``, ``norm``
    or ``layer_norm``), a key-less dropout slot, the conv to 3*s*s; ``to_img`` DySample keys
    (``offset``, ``scope``, ``end_conv``, ``init_pos``) when it has one."""
    if not is_state_dict(state_dict) or "feats.1.channel_mixer.0.weight" not in state_dict:
        return None
    first = conv_shape(state_dict, "feats.0.weight")
    lk = conv_shape(state_dict, "feats.1.lk.conv.weight")
    layers = indices(state_dict, "feats")
    if first is None or lk is None or len(layers) < 3:
        return None
    last = conv_shape(state_dict, f"feats.{layers[-1]}.weight")
    scale = math.isqrt(last[0] // 3) if last else 0
    if scale < 1 or 3 * scale * scale != last[0]:
        return None
    params = {
        "scale": scale,
        "dim": first[0],
        "n_blocks": len(layers) - 2,
        "kernel_size": lk[2],
        "split_channels": lk[0],
        "use_ea": "feats.1.attn.f.0.weight" in state_dict,
        # norm_groups leaves no trace (GroupNorm stores one weight per channel): released 4.
        "layer_norm": "feats.1.layer_norm.weight" in state_dict,
        "dysample": "to_img.offset.weight" in state_dict,
    }
    return params if fits(RealPLKSR, params, state_dict, _is_buffer) else None


def _is_buffer(key: str) -> bool:
    return key == "to_img.init_pos"


def convert_real(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop DySample's stored base positions (recomputed)."""
    return {k: v for k, v in state_dict.items() if not _is_buffer(k)}


SPECS = (
    ArchSpec(
        "plksr",
        "Lee et al. 2024, partial large kernel CNN",
        PLKSR,
        detect=detect,
        detect_order=70,
        proof="vector PLKSR_50 matches to 1e-4",
    ),
    ArchSpec(
        "realplksr",
        "RealPLKSR, the community PLKSR variant (GroupNorm/LayerNorm, DySample)",
        RealPLKSR,
        detect=detect_real,
        detect_order=74,
        convert=convert_real,
        # GroupNorm (the default form) normalises over the whole image.
        tiles_equal_whole=False,
        proof="tests/archs/data/realplksr vectors of neosr (GroupNorm, DySample), traiNNer (LayerNorm) code",
    ),
)
