"""ESRT (Lu et al., CVPRW 2022, "Transformer for Single Image Super-Resolution"), key-compatible
with the official luissen/ESRT code's checkpoints.

A lightweight CNN backbone of three high-preserving blocks (HPB: a feature module, a low
branch at half size run five times through one shared module, a high-frequency branch, fused
with channel attention), then one efficient transformer (ET) whose tokens are the 3x3
neighbourhoods of every pixel (9C wide), folded back to a map; a pixel-shuffle tail plus a
second pixel-shuffle path from the head features (ending in a bias-free conv + ReLU).

Efficient multi-head attention: tokens are reduced to half width, split into 8 heads, and the
token sequence (row-major pixels) is cut into chunks of N // 4 tokens that attend only within
themselves; the query scale is (9C // heads) ** -0.5, from the full token width (the official
code's). The attention depends on the image size, so tiles differ slightly from a whole run.
The network works on [0, 1] (no mean shift).
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.rcan_arch import CALayer, upsampler, upsampler_scale
from superres.archs.spec import ArchSpec

HEADS = 8  # the official EffAttention's; not recoverable from shapes
LOW_PASSES = 5  # times the low branch runs through its shared module


class Scale(nn.Module):
    """A learned scalar weight."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class ConvReLU(nn.Module):
    """Bias-free conv followed by ReLU (the official ``BasicConv``)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class ResidualUnit(nn.Module):
    """weight1 * x + weight2 * conv1(prelu(conv(x))), through C/2 channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels // 2, 3, padding=1)
        self.relu = nn.PReLU(channels // 2)
        self.conv1 = nn.Conv2d(channels // 2, channels, 3, padding=1)
        self.weight1, self.weight2 = Scale(), Scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight1(x) + self.weight2(self.conv1(self.relu(self.conv(x))))


class FeatureModule(nn.Module):
    """Two residual units, their outputs fused (1x1), channel attention, a 3x3, plus the input.
    ``weight1`` is held by the released files but unused (as in the official code)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.layer1, self.layer2 = ResidualUnit(channels), ResidualUnit(channels)
        self.layer4 = ConvReLU(channels, channels, 3)
        self.alise = ConvReLU(2 * channels, channels, 1)
        self.atten = CALayer(channels, reduction)
        self.weight1, self.weight2, self.weight3, self.weight4, self.weight5 = (Scale() for _ in range(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        fused = self.alise(torch.cat([self.weight2(x2), self.weight3(x1)], dim=1))
        return self.weight4(x) + self.weight5(self.layer4(self.atten(fused)))


class HighPreservingBlock(nn.Module):
    """HPB: features split into a half-size low branch and the high-frequency rest."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.encoder = FeatureModule(channels, reduction)
        self.decoder_low = FeatureModule(channels, reduction)
        self.decoder_high = FeatureModule(channels, reduction)
        self.alise = FeatureModule(channels, reduction)
        self.alise2 = ConvReLU(2 * channels, channels, 1)
        self.att = CALayer(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        features = self.encoder(x)
        low = F.avg_pool2d(features, 2)
        high = features - F.interpolate(low, size=size, mode="bilinear", align_corners=True)
        for _ in range(LOW_PASSES):
            low = self.decoder_low(low)
        low = F.interpolate(low, size=size, mode="bilinear", align_corners=True)
        fused = self.alise2(torch.cat([low, self.decoder_high(high)], dim=1))
        return self.alise(self.att(fused)) + x


class EfficientAttention(nn.Module):
    """Multi-head attention at half the token width, within chunks of N // 4 tokens."""

    def __init__(self, dim: int, heads: int = HEADS) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.reduce = nn.Linear(dim, dim // 2, bias=False)
        self.qkv = nn.Linear(dim // 2, dim // 2 * 3, bias=False)
        self.proj = nn.Linear(dim // 2, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        chunk = max(n // 4, 1)  # the official code fails on fewer than 4 tokens
        outputs = [
            F.scaled_dot_product_attention(qc, kc, vc, scale=self.scale)
            for qc, kc, vc in zip(q.split(chunk, -2), k.split(chunk, -2), v.split(chunk, -2), strict=True)
        ]
        return self.proj(torch.cat(outputs, dim=2).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim // 4)
        self.fc2 = nn.Linear(dim // 4, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class EfficientTransformer(nn.Module):
    """Pre-norm transformer layer over the 3x3 neighbourhood tokens of a C-channel map."""

    def __init__(self, dim: int, heads: int = HEADS) -> None:
        super().__init__()
        self.atten = EfficientAttention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = F.unfold(x, 3, padding=1).transpose(1, 2)  # N x HW x 9C
        tokens = tokens + self.atten(self.norm1(tokens))
        return tokens + self.mlp(self.norm2(tokens))


class Backbone(nn.Module):
    """Three HPBs, their outputs reduced (3x3), the transformer, folded back (overlapping 3x3
    neighbourhoods summed), a 3x3; weight1 * input + weight2 * that."""

    def __init__(self, channels: int, reduction: int, heads: int) -> None:
        super().__init__()
        self.encoder1, self.encoder2, self.encoder3 = (
            HighPreservingBlock(channels, reduction) for _ in range(3)
        )
        self.reduce = nn.Conv2d(3 * channels, channels, 3, padding=1)
        self.weight2, self.weight1 = Scale(), Scale()
        self.attention = EfficientTransformer(9 * channels, heads)
        self.alise = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.encoder1(x)
        x2 = self.encoder2(x1)
        x3 = self.encoder3(x2)
        tokens = self.attention(self.reduce(torch.cat([x1, x2, x3], dim=1)))
        out = F.fold(tokens.transpose(1, 2), x.shape[-2:], 3, padding=1)
        return self.weight1(x) + self.weight2(self.alise(out))


class ESRT(nn.Module):
    """ESRT; the paper's model: 32 features, one backbone, 8 heads (751K parameters at x4)."""

    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        n_feats: int = 32,
        n_blocks: int = 1,
        *,
        reduction: int = 16,
        heads: int = HEADS,
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4, 8):
            raise ValueError(f"ESRT upsamples x2, x3, x4 or x8, not x{scale}")
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.head = nn.Sequential(nn.Conv2d(in_channels, n_feats, 3, padding=1))
        self.body = nn.Sequential(*(Backbone(n_feats, reduction, heads) for _ in range(n_blocks)))
        self.reduce = nn.Conv2d(n_blocks * n_feats, n_feats, 3, padding=1)
        self.tail = nn.Sequential(upsampler(n_feats, scale), nn.Conv2d(n_feats, in_channels, 3, padding=1))
        self.up = nn.Sequential(upsampler(n_feats, scale), ConvReLU(n_feats, in_channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height < 2 or width < 2:  # the half-size branch needs 2 pixels a side (upstream fails)
            x = F.pad(x, (0, max(0, 2 - width), 0, max(0, 2 - height)), mode="replicate")
        features = out = self.head(x)
        outputs = []
        for backbone in self.body:
            out = backbone(out)
            outputs.append(out)
        y = self.up(features) + self.tail(self.reduce(torch.cat(outputs, dim=1)))
        return y[..., : height * self.scale, : width * self.scale]


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """Official ESRT keys: head.0, body.B.encoder{1,2,3}.*, body.B.attention.atten.qkv,
    reduce, tail.0.* + tail.1, up.0.* + up.1.conv (bias-free)."""
    if not is_state_dict(state_dict):
        return None
    head = conv_shape(state_dict, "head.0.weight")
    attention = conv_shape(state_dict, "body.0.encoder1.att.conv_du.0.weight")
    norm = state_dict.get("body.0.attention.norm1.weight")
    needed = ("body.0.attention.atten.qkv.weight", "up.1.conv.weight", "tail.1.weight", "reduce.weight")
    if head is None or attention is None or not all(k in state_dict for k in needed):
        return None
    n_feats, in_channels = head[:2]
    blocks = sorted({int(m.group(1)) for k in state_dict if (m := re.match(r"body\.(\d+)\.encoder1\.", k))})
    if blocks != list(range(len(blocks))) or norm is None or norm.shape != (9 * n_feats,):
        return None
    squeezed = attention[0]
    scale = upsampler_scale(state_dict, "tail.0", n_feats)
    if scale is None or upsampler_scale(state_dict, "up.0", n_feats) != scale or n_feats % squeezed:
        return None
    if (9 * n_feats // 2) % HEADS:
        return None  # the reduced token width must split into the 8 heads
    return {
        "scale": scale,
        "in_channels": in_channels,
        "n_feats": n_feats,
        "n_blocks": len(blocks),
        "reduction": n_feats // squeezed,
    }


SPECS = (
    ArchSpec(
        "esrt",
        "Lu et al. 2022, efficient super-resolution transformer (CNN backbone + efficient attention)",
        ESRT,
        detect=detect,
        detect_order=83,
        # Attention runs over chunks of a quarter of all tokens and channel attention pools
        # over the whole input: a tiled run is close to, not equal to, the whole one.
        tiles_equal_whole=False,
        proof="matches the official code's output (seeded vectors tests/archs/data/esrt/*) to 1e-4",
    ),
)
