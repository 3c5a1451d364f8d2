"""SeemoRe (Zamfir et al., ICML 2024, "See More Details: Efficient Image Super-Resolution by
Experts Mining"), key-compatible with the official checkpoints (eduardzamfir/seemoredetails).

Each residual group runs a local block (a mixture of low-rank experts, RME) and a global block
(striped large-kernel conv "attention", SME), each followed by a gated FFN, all pre-normed with
a channel LayerNorm. An RME splits its features into a value path (striped 3-tap depthwise
convs) and a key path re-calibrated by a twice-downsampled (4x4 stride-4, ``recursive`` times)
context; a router that pools the whole image picks the top-k experts per image.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.misc_common import ChannelLayerNorm, fits, indices, shape
from superres.archs.spec import ArchSpec

_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class StripedConv(nn.Module):
    """A 1 x k then a k x 1 depthwise conv."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, (1, kernel_size), padding=(0, pad), groups=channels),
            nn.Conv2d(channels, channels, (kernel_size, 1), padding=(pad, 0), groups=channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class GatedFFN(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fn_1 = nn.Sequential(nn.Conv2d(channels, channels * 2, 1), nn.GELU())
        self.fn_2 = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.GELU())
        self.gate = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.fn_1(x).chunk(2, dim=1)
        return self.fn_2(value * self.gate(gate))


class Expert(nn.Module):
    def __init__(self, channels: int, rank: int) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(channels, rank, 1)
        self.conv_2 = nn.Conv2d(channels, rank, 1)
        self.conv_3 = nn.Conv2d(rank, channels, 1)

    def forward(self, x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return self.conv_3(self.conv_2(key) * self.conv_1(x))


class Router(nn.Module):
    def __init__(self, channels: int, num_experts: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, num_experts, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MoELayer(nn.Module):
    def __init__(self, channels: int, ranks: tuple[int, ...], topk: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(Expert(channels, r) for r in ranks)
        self.gate = Router(channels, len(ranks))
        self.topk = topk

    def forward(self, x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.gate(x), dim=1, dtype=torch.float).to(x.dtype)
        top_weights, top_experts = torch.topk(weights, self.topk)
        if torch.compiler.is_exporting():  # ONNX: no graph picks modules by data; run them all
            chosen = torch.zeros_like(weights).scatter(1, top_experts, top_weights)
            out = x
            for e, expert in enumerate(self.experts):  # an expert not chosen adds 0 x its output
                out = out + expert(x, key) * chosen[:, e, None, None, None]
            return out
        # Per image, its own top-k experts in rank order (the official code routes a batch by
        # its first image; the same for one image).
        out = []
        for i in range(x.shape[0]):
            xi, ki, yi = x[i : i + 1], key[i : i + 1], x[i : i + 1].clone()
            for j in range(self.topk):
                yi = yi + self.experts[int(top_experts[i, j])](xi, ki) * top_weights[i, j]
            out.append(yi)
        return torch.cat(out)


class MoEBlock(nn.Module):
    def __init__(self, channels: int, ranks: tuple[int, ...], options: dict) -> None:
        super().__init__()
        self.use_shuffle = options["use_shuffle"]
        self.recursive = options["recursive"]
        self.conv_1 = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv2d(channels, 2 * channels, 1)
        )
        self.agg_conv = nn.Sequential(nn.Conv2d(channels, channels, 4, stride=4, groups=channels), nn.GELU())
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.Conv2d(channels, channels, 1)
        )
        self.conv_2 = nn.Sequential(StripedConv(channels, 3), nn.GELU())
        self.moe_layer = MoELayer(channels, ranks, options["topk"])
        self.proj = nn.Conv2d(channels, channels, 1)

    def calibrate(self, key: torch.Tensor) -> torch.Tensor:
        context = key
        for _ in range(self.recursive):
            context = self.agg_conv(context)
        context = F.interpolate(self.conv(context), size=key.shape[-2:], mode="bilinear", align_corners=False)
        return key + context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(x)
        if self.use_shuffle:  # interleave the two halves' channels
            b, c, h, w = x.shape
            x = x.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)
        value, key = x.chunk(2, dim=1)
        return self.proj(self.moe_layer(self.conv_2(value), self.calibrate(key)))


class StripedConvFormer(nn.Module):
    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, 1)
        self.to_qv = nn.Sequential(nn.Conv2d(channels, channels * 2, 1), nn.GELU())
        self.attn = StripedConv(channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, v = self.to_qv(x).chunk(2, dim=1)
        return self.proj(self.attn(q) * v)


class PreNormBlock(nn.Module):
    """x + block(norm_1(x)), then x + ffn(norm_2(x)): RME and SME share this frame."""

    def __init__(self, channels: int, block: nn.Module) -> None:
        super().__init__()
        self.norm_1 = ChannelLayerNorm(channels)
        self.block = block
        self.norm_2 = ChannelLayerNorm(channels)
        self.ffn = GatedFFN(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.norm_1(x)) + x
        return self.ffn(self.norm_2(x)) + x


class ResGroup(nn.Module):
    def __init__(self, channels: int, ranks: tuple[int, ...], options: dict) -> None:
        super().__init__()
        self.local_block = PreNormBlock(channels, MoEBlock(channels, ranks, options))
        self.global_block = PreNormBlock(channels, StripedConvFormer(channels, options["global_kernel_size"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_block(self.local_block(x))


class SeemoRe(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        embedding_dim: int = 36,  # defaults: SeemoRe-T
        num_layers: int = 6,
        expert_ranks: tuple[int, ...] = (2, 4, 8),
        *,
        global_kernel_size: int = 11,
        use_shuffle: bool = True,
        recursive: int = 2,
        topk: int = 1,
        img_range: float = 1.0,
    ) -> None:
        super().__init__()
        self.scale, self.in_channels, self.out_channels = scale, 3, 3  # the RGB mean fixes 3
        self.img_range = img_range
        # The key path downsamples by 4, ``recursive`` times: smaller inputs are padded to this.
        self.min_size = 4**recursive
        self.register_buffer("mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        options = {
            "use_shuffle": use_shuffle,
            "recursive": recursive,
            "topk": topk,
            "global_kernel_size": global_kernel_size,
        }
        ranks = tuple(expert_ranks)
        self.conv_1 = nn.Conv2d(3, embedding_dim, 3, padding=1)
        self.body = nn.ModuleList(ResGroup(embedding_dim, ranks, options) for _ in range(num_layers))
        self.norm = ChannelLayerNorm(embedding_dim)
        self.conv_2 = nn.Conv2d(embedding_dim, embedding_dim, 3, padding=1)
        self.upsampler = nn.Sequential(
            nn.Conv2d(embedding_dim, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = _pad_to(x, self.min_size)
        x = (x - self.mean) * self.img_range
        x = self.conv_1(x)
        res = x
        for layer in self.body:
            x = layer(x)
        x = self.upsampler(self.conv_2(self.norm(x)) + res)
        x = x / self.img_range + self.mean
        return x[..., : h * self.scale, : w * self.scale]


def _pad_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` padded at the bottom and right to at least ``size`` x ``size`` (reflected where
    the image is large enough, else its edge repeated)."""
    h, w = x.shape[-2:]
    if torch.compiler.is_exporting():
        return _pad_to_symbolic(x, size)
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph == pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _pad_to_symbolic(x: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`_pad_to` for the ONNX export: both paddings (by symbolic amounts, often 0),
    the reflected one where reflection reaches far enough."""
    h, w = x.shape[-2:]
    ph, pw = torch.sym_max(size - h, 0), torch.sym_max(size - w, 0)
    rh, rw = torch.sym_min(ph, h - 1), torch.sym_min(pw, w - 1)
    reflected = F.pad(F.pad(x, (0, rw, 0, rh), mode="reflect"), (0, pw - rw, 0, ph - rh), mode="replicate")
    zero = x.new_zeros((), dtype=torch.long)
    reaches = ((zero + ph) < h) & ((zero + pw) < w)
    return torch.where(reaches, reflected, F.pad(x, (0, pw, 0, ph), mode="replicate"))


def _expert_ranks(state_dict: dict) -> tuple[int, ...] | None:
    prefix = "body.0.local_block.block.moe_layer.experts"
    found = indices(state_dict, prefix)
    if found != list(range(len(found))) or not found:
        return None
    ranks = [conv_shape(state_dict, f"{prefix}.{i}.conv_1.weight") for i in found]
    return None if None in ranks else tuple(r[0] for r in ranks)


# Not recoverable from shapes: use_shuffle, recursive and topk. The released models: Tiny
# (6 layers, 36 channels) and Big (8, 48) shuffle, recurse twice, top-1; Large (16, 48) does
# not shuffle and recurses once, top-1. Other sizes get the Tiny/Big settings.
_RELEASED = {(16, 48): {"use_shuffle": False, "recursive": 1, "topk": 1}}
_DEFAULT = {"use_shuffle": True, "recursive": 2, "topk": 1}


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """``conv_1``, ``body.<i>.local_block`` (MoE) / ``global_block`` (striped conv), ``norm``,
    ``conv_2``, ``upsampler.0`` (conv to 3*s*s)."""
    if (
        not is_state_dict(state_dict)
        or "body.0.local_block.block.moe_layer.gate.body.2.weight" not in state_dict
    ):
        return None
    first = conv_shape(state_dict, "conv_1.weight")
    up = conv_shape(state_dict, "upsampler.0.weight")
    stripe = shape(state_dict, "body.0.global_block.block.attn.conv.0.weight")
    ranks = _expert_ranks(state_dict)
    if first is None or first[1] != 3 or up is None or stripe is None or len(stripe) != 4 or ranks is None:
        return None
    scale = math.isqrt(up[0] // 3)
    layers = len(indices(state_dict, "body"))
    if scale < 1 or 3 * scale * scale != up[0]:
        return None
    params = {
        "scale": scale,
        "embedding_dim": first[0],
        "num_layers": layers,
        "expert_ranks": ranks,
        "global_kernel_size": stripe[3],
        **_RELEASED.get((layers, first[0]), _DEFAULT),
    }
    return params if fits(SeemoRe, params, state_dict) else None


SPECS = (
    ArchSpec(
        "seemore",
        "Zamfir et al. 2024, mixture of low-rank experts",
        SeemoRe,
        detect=detect,
        detect_order=72,
        # The expert router pools over the whole input and the key path resamples the whole
        # feature map: a tile picks experts and context from its own content.
        tiles_equal_whole=False,
        proof="vector SeemoRe_09 matches to 1e-4",
    ),
)
