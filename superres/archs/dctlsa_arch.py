"""DCTLSA (Zeng et al., IEEE TIM 2023: "Densely connected transformer with linear
self-attention for lightweight image super-resolution"), key-compatible with the released
``X2.pt``/``X3.pt``/``X4.pt``.

Six blocks, densely connected through 1x1 convolutions, each two Swin-style layers of two
blocks; a block's attention is linear (softmax over the keys' tokens, then k^T v per
head) inside 16 x 16 windows (shifted by 8 in every second block), preceded by a
convolutional local branch, and there is no layer norm inside the blocks."""

from __future__ import annotations

import re
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import Mlp

StateDict = dict[str, torch.Tensor]
_WINDOW = 16  # the released window size (no weight's shape depends on it)
_HEADS = 5  # the released number of heads: linear attention holds no per-head tensor
_MODULES = 6  # B1..B6 are fixed in the released forward
_SLOPE = 0.05  # LeakyReLU slope of the 1x1 fusion convolutions


def _local_branch(dim: int) -> nn.Sequential:
    """BN, 1x1, depthwise 3x3, BN, 1x1 (no biases), the released names kept."""
    return nn.Sequential(
        OrderedDict(
            pointwise_prenorm_0=nn.BatchNorm2d(dim),
            pointwise_conv_0=nn.Conv2d(dim, dim, 1, bias=False),
            depthwise_conv=nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False),
            pointwise_prenorm_1=nn.BatchNorm2d(dim),
            pointwise_conv_1=nn.Conv2d(dim, dim, 1, bias=False),
        )
    )


class LinearWindowAttention(nn.Module):
    """Local branch y = x + local(x); then, per 16x16 window and head, q * d^-1/2 times
    (softmax over tokens of k)^T v, projected, plus y. Works on B x H x W x C."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.local = _local_branch(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        planar = x.permute(0, 3, 1, 2)
        local = (self.local(planar) + planar).permute(0, 2, 3, 1)
        n, heads, ws = _WINDOW * _WINDOW, self.num_heads, _WINDOW
        qkv = self.qkv(local).reshape(b, h // ws, ws, w // ws, ws, 3, heads, c // heads)
        qkv = qkv.permute(5, 0, 1, 3, 6, 2, 4, 7).reshape(3, -1, heads, n, c // heads)
        q, k, v = qkv[0], qkv[1].softmax(dim=-2), qkv[2]
        out = (q * self.scale) @ (k.transpose(-2, -1) @ v)  # windows x heads x n x d
        out = self.proj(out.transpose(1, 2).reshape(b, h // ws, w // ws, ws, ws, c))
        return out.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c) + local


class Block(nn.Module):
    """Cyclic shift, attention (its own residual), shift back, x + mlp(x); no norms."""

    def __init__(self, dim: int, num_heads: int, shift: int) -> None:
        super().__init__()
        self.shift = shift
        self.attn = LinearWindowAttention(dim, num_heads)
        self.mlp = Mlp(dim, dim * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2))
        x = self.attn(x)
        if self.shift:
            x = torch.roll(x, (self.shift, self.shift), dims=(1, 2))
        return x + self.mlp(x)


class _Embed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)


class TransformerLayer(nn.Module):
    """Pads (reflecting) to the window grid, layer-norms the tokens once, runs a plain and a
    shifted block, crops back; each layer pads on its own, as released."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, num_heads, 0), Block(dim, num_heads, _WINDOW // 2)])
        self.patch_embed = _Embed(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = _pad_to_multiple(x, _WINDOW)
        tokens = self.patch_embed.norm(x.permute(0, 2, 3, 1))
        for block in self.blocks:
            tokens = block(tokens)
        return tokens.permute(0, 3, 1, 2)[:, :, :h, :w]


class _SwinT(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.transformer_body = nn.Sequential(TransformerLayer(dim, num_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transformer_body(x)


class LSAB(nn.Module):
    """Linear self-attention block: two transformer layers."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_SwinT(dim, num_heads), _SwinT(dim, num_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _fuse(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.LeakyReLU(_SLOPE))


class DCTLSA(nn.Module):
    """3x3 head, six LSABs densely connected (block i sees all earlier features through a
    1x1 fusion), a 1x1 fusion of the six outputs, 3x3 conv with a long skip, pixel shuffle."""

    supported_scales = (2, 3, 4)

    def __init__(self, scale: int = 4, in_channels: int = 3, nf: int = 55, num_heads: int = _HEADS) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.size_multiple = _WINDOW
        self.fea_conv = nn.Conv2d(in_channels, nf, 3, padding=1)
        for i in range(1, _MODULES + 1):
            setattr(self, f"B{i}", LSAB(nf, num_heads))
        self.c = _fuse(nf * _MODULES, nf)
        for i in range(1, _MODULES):
            setattr(self, f"c{i}", _fuse(nf * (i + 1), nf))
        self.LR_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.upsampler = nn.Sequential(
            nn.Conv2d(nf, in_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.fea_conv(x)
        dense, outputs, features = head, [], head
        for i in range(1, _MODULES + 1):
            out = getattr(self, f"B{i}")(features)
            outputs.append(out)
            if i < _MODULES:
                dense = torch.cat([dense, out], dim=1)
                features = getattr(self, f"c{i}")(dense)
        body = self.LR_conv(self.c(torch.cat(outputs, dim=1))) + head
        return self.upsampler(body)


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom and right to a multiple (as released); replicate the part that
    reflection cannot reach on inputs smaller than the padding (where the release fails).
    Both pads always run (possibly by 0 pixels) and the amounts stay symbolic, so an ONNX
    export pads any size as PyTorch does."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    reflect_h, reflect_w = torch.sym_min(pad_h, h - 1), torch.sym_min(pad_w, w - 1)
    x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect")
    return F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), mode="replicate")


_BLOCK_KEY = re.compile(r"B(\d+)\.body\.(\d+)\.transformer_body\.0\.blocks\.(\d+)\.attn\.qkv\.weight$")


def detect(state_dict: StateDict) -> dict | None:
    if not is_state_dict(state_dict):
        return None
    head = conv_shape(state_dict, "fea_conv.weight")
    up = conv_shape(state_dict, "upsampler.0.weight")
    fusion = conv_shape(state_dict, "c.0.weight")
    lr = conv_shape(state_dict, "LR_conv.weight")
    if None in (head, up, fusion, lr) or "c5.0.weight" not in state_dict:
        return None
    nf, in_channels = head[:2]
    scale = round((up[0] / in_channels) ** 0.5)
    if up[:2] != (in_channels * scale * scale, nf) or fusion[:2] != (nf, nf * _MODULES) or lr[:2] != (nf, nf):
        return None
    found = {tuple(int(g) for g in m.groups()) for k in state_dict if (m := _BLOCK_KEY.match(k))}
    want = {(b, layer, block) for b in range(1, _MODULES + 1) for layer in (0, 1) for block in (0, 1)}
    qkv = state_dict.get("B1.body.0.transformer_body.0.blocks.0.attn.qkv.weight")
    if found != want or not isinstance(qkv, torch.Tensor) or tuple(qkv.shape) != (3 * nf, nf):
        return None
    if scale not in DCTLSA.supported_scales or nf % _HEADS:
        return None
    return {"scale": scale, "in_channels": in_channels, "nf": nf, "num_heads": _HEADS}


SPECS = (
    ArchSpec(
        "dctlsa",
        "Zeng et al. 2023, DCTLSA: densely connected transformer with linear self-attention",
        DCTLSA,
        detect=detect,
        detect_order=52,
        # Attention runs inside 16x16 windows on each layer's own padded grid.
        tiles_equal_whole=False,
        proof=(
            "X2.pt/X4.pt match spandrel's reference outputs within 1 level; "
            "X4.pt Set5 32.52 dB (README 32.53)"
        ),
    ),
)
