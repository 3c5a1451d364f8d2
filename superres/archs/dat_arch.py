"""DAT, the Dual Aggregation Transformer (Chen et al., ICCV 2023), key-compatible with the
released DAT, DAT-S, DAT-2 and DAT-light checkpoints.

Blocks alternate between spatial window attention (channels split into an hs x ws and a
ws x hs window branch, every fourth such block shifted by half a window) and channel
attention (XCiT style); each mixes its attention with a depth-wise conv branch through the
adaptive interaction module, and feeds a spatial-gate FFN. The spatial blocks pad q, k, v
with zeros to a multiple of the larger window side, as the official code does, so any
input size runs; the padded tokens take part in the attention exactly as there."""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import shape_of
from superres.archs.rwin_blocks import RectWindowAttention, decode_index, grid_extent, shift_mask
from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import residual_conv

_RGB_MEAN = (0.4488, 0.4371, 0.4040)
_DEFAULT_SPLIT = (8, 32)  # DAT, DAT-2 and DAT-light; DAT-S uses (8, 16)


def _interaction(dim: int, pooled: bool) -> nn.Sequential:
    """The adaptive interaction module's channel map (pooled) or spatial map."""
    if pooled:
        return nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dim, dim // 8, 1),
            nn.BatchNorm2d(dim // 8),
            nn.GELU(),
            nn.Conv2d(dim // 8, dim, 1),
        )
    return nn.Sequential(
        nn.Conv2d(dim, dim // 16, 1), nn.BatchNorm2d(dim // 16), nn.GELU(), nn.Conv2d(dim // 16, 1, 1)
    )


def _to_map(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """B x L x C tokens -> B x C x H x W."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *size)


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)


class _AdaptiveMixer(nn.Module):
    """The parts both attention kinds share: qkv, depth-wise conv on v, interaction maps, proj."""

    def __init__(self, dim: int, qkv_bias: bool) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.dwconv = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, groups=dim), nn.BatchNorm2d(dim), nn.GELU()
        )
        self.channel_interaction = _interaction(dim, pooled=True)
        self.spatial_interaction = _interaction(dim, pooled=False)


class SpatialAttention(_AdaptiveMixer):
    """Adaptive spatial self-attention (DSTB): two rectangle-window branches + a conv branch."""

    def __init__(
        self, dim: int, num_heads: int, split: tuple[int, int], shifted: bool, qkv_bias: bool = True
    ) -> None:
        super().__init__(dim, qkv_bias)
        s0, s1 = split
        self.split = (s0, s1)
        self.shifted = shifted
        self.attns = nn.ModuleList(
            RectWindowAttention(dim // 2, num_heads // 2, window) for window in ((s0, s1), (s1, s0))
        )

    def _branch(self, i: int, qkv: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Branch ``i`` on 3 x B x H' x W' x C/2 (padded) q, k, v; B x H' x W' x C/2 out."""
        attn = self.attns[i]
        if not self.shifted:
            return attn(qkv.unbind(0))
        shift = (attn.window[0] // 2, attn.window[1] // 2)
        rolled = torch.roll(qkv, shifts=(-shift[0], -shift[1]), dims=(2, 3))
        out = attn(rolled.unbind(0), mask=shift_mask(size, attn.window, shift))
        return torch.roll(out, shifts=shift, dims=(1, 2))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        h, w = size
        qkv = self.qkv(x).view(b, n, 3, c).permute(2, 0, 1, 3)
        v = _to_map(qkv[2], size)
        unit = max(self.split)
        pad_h, pad_w = (-h) % unit, (-w) % unit
        qkv = F.pad(qkv.reshape(3, b, h, w, c), (0, 0, 0, pad_w, 0, pad_h))
        padded = (h + pad_h, w + pad_w)
        halves = (qkv[..., : c // 2], qkv[..., c // 2 :])
        attended = torch.cat([self._branch(i, half, padded)[:, :h, :w] for i, half in enumerate(halves)], -1)
        attended = attended.reshape(b, n, c)
        conv = self.dwconv(v)
        channel_map = self.channel_interaction(conv).view(b, 1, c)
        spatial_map = self.spatial_interaction(_to_map(attended, size))
        mixed = attended * torch.sigmoid(channel_map) + _to_tokens(torch.sigmoid(spatial_map) * conv)
        return self.proj(mixed)


class ChannelAttention(_AdaptiveMixer):
    """Adaptive channel self-attention (DCTB): transposed attention + a conv branch."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__(dim, qkv_bias)
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 4, 1)
        q, k, v = qkv.unbind(0)  # B x heads x C/heads x N
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        attended = (attn @ v).permute(0, 3, 1, 2).reshape(b, n, c)
        conv = self.dwconv(v.reshape(b, c, *size))
        channel_map = self.channel_interaction(_to_map(attended, size))
        spatial_map = self.spatial_interaction(conv).permute(0, 2, 3, 1).reshape(b, n, 1)
        mixed = attended * torch.sigmoid(spatial_map) + _to_tokens(conv * torch.sigmoid(channel_map))
        return self.proj(mixed)


class SpatialGate(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=-1)
        return x1 * _to_tokens(self.conv(_to_map(self.norm(x2), size)))


class SGFN(nn.Module):
    """Spatial-gate feed-forward network."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.sg = SpatialGate(hidden // 2)
        self.fc2 = nn.Linear(hidden // 2, dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.fc2(self.sg(self.act(self.fc1(x)), size))


class DATBlock(nn.Module):
    def __init__(self, dim: int, attn: nn.Module, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = SGFN(dim, hidden)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), size)
        return x + self.ffn(self.norm2(x), size)


def _is_shifted(group: int, block: int) -> bool:
    """The official schedule: blocks 2, 6, 10, ... of even groups, 0, 4, 8, ... of odd ones."""
    return (group % 2 == 0 and block > 0 and (block - 2) % 4 == 0) or (group % 2 == 1 and block % 4 == 0)


class ResidualGroup(nn.Module):
    def __init__(self, dim: int, depth: int, num_heads: int, group: int, options: dict) -> None:
        super().__init__()
        hidden = round(dim * options["expansion_factor"])
        blocks = []
        for i in range(depth):
            if i % 2 == 0:
                attn = SpatialAttention(
                    dim, num_heads, options["split_size"], _is_shifted(group, i), options["qkv_bias"]
                )
            else:
                attn = ChannelAttention(dim, num_heads, options["qkv_bias"])
            blocks.append(DATBlock(dim, attn, hidden))
        self.blocks = nn.ModuleList(blocks)
        self.conv = residual_conv(dim, options["resi_connection"])

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        res = x
        for block in self.blocks:
            x = block(x, size)
        return res + _to_tokens(self.conv(_to_map(x, size)))


class _LayerNormTokens(nn.Sequential):
    """``before_RG``: B x C x H x W -> tokens, then LayerNorm (key ``before_RG.1``; the
    official slot 0 is a parameter-free rearrange)."""

    def __init__(self, dim: int) -> None:
        super().__init__(nn.Identity(), nn.LayerNorm(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self[1](_to_tokens(x))


def _upsampler(kind: str, scale: int, dim: int, num_feat: int, out_channels: int) -> dict[str, nn.Module]:
    if kind == "pixelshuffledirect":
        return {
            "upsample": nn.Sequential(
                nn.Conv2d(dim, scale * scale * out_channels, 3, padding=1), nn.PixelShuffle(scale)
            )
        }
    layers: list[nn.Module] = []
    if scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, padding=1), nn.PixelShuffle(3)]
    else:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, padding=1), nn.PixelShuffle(2)]
    return {
        "conv_before_upsample": nn.Sequential(
            nn.Conv2d(dim, num_feat, 3, padding=1), nn.LeakyReLU(inplace=True)
        ),
        "upsample": nn.Sequential(*layers),
        "conv_last": nn.Conv2d(num_feat, out_channels, 3, padding=1),
    }


class DAT(nn.Module):
    supported_scales = (2, 3, 4, 8)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        embed_dim: int = 180,
        depth: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        *,
        split_size: tuple[int, int] = _DEFAULT_SPLIT,
        expansion_factor: float = 4.0,
        qkv_bias: bool = True,
        resi_connection: str = "1conv",
        upsampler: str = "pixelshuffle",
        num_feat: int = 64,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.upsampler = upsampler
        self.size_multiple = max(split_size)  # the spatial blocks pad to it internally
        mean = _RGB_MEAN if in_channels == 3 else (0.0,) * in_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.before_RG = _LayerNormTokens(embed_dim)
        options = {
            "split_size": tuple(split_size),
            "expansion_factor": expansion_factor,
            "qkv_bias": qkv_bias,
            "resi_connection": resi_connection,
        }
        self.layers = nn.ModuleList(
            ResidualGroup(embed_dim, d, heads, i, options)
            for i, (d, heads) in enumerate(zip(depth, num_heads, strict=True))
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        for name, module in _upsampler(upsampler, scale, embed_dim, num_feat, in_channels).items():
            setattr(self, name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        x = self.conv_first(x - mean)
        size = (x.shape[2], x.shape[3])
        tokens = self.before_RG(x)
        for layer in self.layers:
            tokens = layer(tokens, size)
        x = self.conv_after_body(_to_map(self.norm(tokens), size)) + x
        if self.upsampler == "pixelshuffle":
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        else:
            x = self.upsample(x)
        return x + mean


# ---------------------------------------------------------------- reading released files

_BUFFER = re.compile(r".*\.(attn_mask_[01]|rpe_biases|relative_position_index)")


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the attention masks, offset grids and position indices: the network recomputes them."""
    return {k: v for k, v in state_dict.items() if not _BUFFER.fullmatch(k)}


def _split_size(state_dict: dict) -> tuple[int, int]:
    """Window sides from the first spatial block's offset grid (its values order them) or its
    position index; neither in the file: the released default (not recoverable from weights)."""
    prefix = "layers.0.blocks.0.attn.attns.0."
    found = grid_extent(state_dict.get(prefix + "rpe_biases")) or decode_index(
        state_dict.get(prefix + "relative_position_index")
    )
    return found or _DEFAULT_SPLIT


def _depths(state_dict: dict) -> list[int] | None:
    blocks: dict[int, set[int]] = {}
    for key in state_dict:
        m = (
            re.fullmatch(r"layers\.(\d+)\.blocks\.(\d+)\.norm1\.weight", key)
            if isinstance(key, str)
            else None
        )
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if not blocks or sorted(blocks) != list(range(len(blocks))):
        return None
    if any(sorted(b) != list(range(len(b))) for b in blocks.values()):
        return None
    return [len(blocks[i]) for i in range(len(blocks))]


def _heads(state_dict: dict, depths: list[int]) -> list[int] | None:
    heads = []
    for i, depth in enumerate(depths):
        prefix = f"layers.{i}.blocks."
        pos = shape_of(state_dict, prefix + "0.attn.attns.0.pos.pos3.2.weight", 2)
        temp = shape_of(state_dict, prefix + "1.attn.temperature", 3) if depth > 1 else None
        if pos is None or (depth > 1 and temp is None):
            return None
        heads.append(temp[0] if temp else 2 * pos[0])
    return heads


def _upsampling(state_dict: dict, in_channels: int, embed_dim: int) -> dict | None:
    """Upsampler kind, scale and width from the reconstruction convs."""
    direct = shape_of(state_dict, "upsample.0.weight", 4)
    before = shape_of(state_dict, "conv_before_upsample.0.weight", 4)
    if before is None:
        scale = math.isqrt(direct[0] // in_channels) if direct and direct[1] == embed_dim else 0
        if scale < 1 or scale * scale * in_channels != direct[0]:
            return None
        return {"upsampler": "pixelshuffledirect", "scale": scale}
    num_feat, convs = before[0], []
    while (conv := shape_of(state_dict, f"upsample.{2 * len(convs)}.weight", 4)) is not None:
        convs.append(conv[0] // num_feat)
    last = shape_of(state_dict, "conv_last.weight", 4)
    if last is None or last[0] != in_channels or not convs:
        return None
    if convs == [9]:
        return {"upsampler": "pixelshuffle", "scale": 3, "num_feat": num_feat}
    if set(convs) != {4}:
        return None
    return {"upsampler": "pixelshuffle", "scale": 2 ** len(convs), "num_feat": num_feat}


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    try:
        return _detect(state_dict)
    except (TypeError, ValueError, AttributeError, RuntimeError, IndexError):
        return None


def _detect(state_dict: dict) -> dict | None:
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) for k in state_dict):
        return None
    first = shape_of(state_dict, "conv_first.weight", 4)
    if first is None or shape_of(state_dict, "before_RG.1.weight", 1) is None:
        return None
    if shape_of(state_dict, "layers.0.blocks.0.ffn.sg.conv.weight", 4) is None:
        return None
    embed_dim, in_channels = first[:2]
    depths = _depths(state_dict)
    heads = _heads(state_dict, depths) if depths else None
    fc1 = shape_of(state_dict, "layers.0.blocks.0.ffn.fc1.weight", 2)
    up = _upsampling(state_dict, in_channels, embed_dim)
    if heads is None or fc1 is None or up is None:
        return None
    three = shape_of(state_dict, "conv_after_body.0.weight", 4) is not None
    return {
        "scale": up.pop("scale"),
        "in_channels": in_channels,
        "embed_dim": embed_dim,
        "depth": depths,
        "num_heads": heads,
        "split_size": list(_split_size(state_dict)),
        "expansion_factor": fc1[0] / embed_dim,
        "qkv_bias": "layers.0.blocks.0.attn.qkv.bias" in state_dict,
        "resi_connection": "3conv" if three else "1conv",
        **up,
    }


SPECS = (
    ArchSpec(
        "dat",
        "Chen et al. 2023, Dual Aggregation Transformer (DAT, DAT-S, DAT-2, DAT-light)",
        DAT,
        detect=detect,
        detect_order=20,
        convert=convert,
        # Window attention with internal padding, and channel attention and pooled channel
        # maps over the whole input: tiles are not the whole-image run.
        tiles_equal_whole=False,
        proof="DAT_light_x4.pth meets Set5/Set14/BSD100 32.57/28.87/27.74 within 0.01 dB (Set14 gray as RGB)",
    ),
)
