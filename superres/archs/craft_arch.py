"""CRAFT, the cross-refinement adaptive feature modulation transformer (Li et al., ICCV 2023,
"Feature Modulation Transformer: Cross-Refinement of Global Representation via High-Frequency
Prior for Image Super-Resolution"), key-compatible with its released checkpoints.

Each group runs, per step, two shift-rectangle-window attention blocks (SRWAB: half the
channels in hs x ws windows, half in ws x hs ones, every second block cyclically shifted by
half a window, with no mask, as the official code does) for the low-frequency path, a
high-frequency enhancement residual block (HFERB: conv branch + max-pool branch), and a
hybrid fusion block (HFB) whose transposed attention takes its query from the high-frequency
path. As the official inference script (and spandrel) does, inputs are extended by their
mirror image to the next multiple of 16 above their size (even when already a multiple) and
the output cropped.

Some files hold offset tables for the two window orientations the other way round (the table
of the ws x hs windows feeds the hs x ws branch, e.g. the NTIRE 2024 entry team34_craft.pth);
the official code runs whatever tables the file holds, so ``swapped_tables`` recreates that.
(With embed_dim 48 the position MLP is one unit wide, and its first LayerNorm over that one
unit makes the bias independent of the offsets: the swap changes nothing there; team34 scores
Set5 32.42 dB either way.)"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import shape_of
from superres.archs.rwin_blocks import RectWindowAttention, decode_index, grid_extent, lcm
from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import Mlp

_RGB_MEAN = (0.4488, 0.4371, 0.4040)
_DEFAULT_SPLIT = (4, 16)  # the released CRAFT (not recoverable from weights without its buffers)
_BUFFERS = ("relative_position_index_h", "relative_position_index_v", "biases_h", "biases_v")


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of a B x C x H x W map (``body`` holds weight and bias)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SRWAB(nn.Module):
    """Shift rectangle window attention block on B x H x W x C maps."""

    def __init__(
        self, dim: int, num_heads: int, split: tuple[int, int], shifted: bool, options: dict
    ) -> None:
        super().__init__()
        s0, s1 = split
        self.shifted = shifted
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.get_v = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        tables = ((s1, s0), (s0, s1)) if options["swapped_tables"] else ((s0, s1), (s1, s0))
        self.attns = nn.ModuleList(
            RectWindowAttention(dim // 2, num_heads // 2, window, table)
            for window, table in zip(((s0, s1), (s1, s0)), tables, strict=True)
        )
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, round(dim * options["mlp_ratio"]))

    def _branch(self, i: int, qkv: torch.Tensor) -> torch.Tensor:
        attn = self.attns[i]
        if not self.shifted:
            return attn(qkv.unbind(0))
        shift = (attn.window[0] // 2, attn.window[1] // 2)
        out = attn(torch.roll(qkv, shifts=(-shift[0], -shift[1]), dims=(2, 3)).unbind(0))
        return torch.roll(out, shifts=shift, dims=(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[-1]
        qkv = self.qkv(self.norm1(x)).unflatten(-1, (3, c)).permute(3, 0, 1, 2, 4)  # 3 x B x H x W x C
        halves = (qkv[..., : c // 2], qkv[..., c // 2 :])
        attended = torch.cat([self._branch(i, half) for i, half in enumerate(halves)], dim=-1)
        local = self.get_v(qkv[2].permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        x = x + self.proj(attended + local)
        return x + self.mlp(self.norm2(x))


class HFERB(nn.Module):
    """High-frequency enhancement residual block: 3x3 conv on half the channels, max-pool +
    1x1 conv on the other half, fused by a 1x1 conv."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mid = dim // 2
        self.act = nn.GELU()
        self.last_fc = nn.Conv2d(dim, dim, 1)
        self.fc = nn.Conv2d(self.mid, self.mid, 1)
        self.conv = nn.Conv2d(self.mid, self.mid, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.act(self.conv(x[:, : self.mid]))
        high = self.act(self.fc(F.max_pool2d(x[:, self.mid :], 3, stride=1, padding=1)))
        return x + self.last_fc(torch.cat([local, high], dim=1))


class FusionAttention(nn.Module):
    """Transposed (channel) attention: query from the high-frequency map, keys and values from
    the low-frequency one."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=False)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False)
        self.kv = nn.Conv2d(dim, dim * 2, 1, bias=False)
        self.kv_dwconv = nn.Conv2d(dim * 2, dim * 2, 3, padding=1, groups=dim * 2, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        b, c, h, w = low.shape
        q = self.q_dwconv(self.q(high)).reshape(b, self.num_heads, c // self.num_heads, h * w)
        k, v = (
            self.kv_dwconv(self.kv(low)).reshape(b, 2, self.num_heads, c // self.num_heads, h * w).unbind(1)
        )
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        return self.project_out((attn @ v).reshape(b, c, h, w))


class GatedFeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=False)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=False)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class HFB(nn.Module):
    """Hybrid fusion block."""

    def __init__(self, dim: int, num_heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = ChannelLayerNorm(dim)
        self.attn = FusionAttention(dim, num_heads)
        self.norm2 = ChannelLayerNorm(dim)
        self.ffn = GatedFeedForward(dim, hidden)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x = low + self.attn(self.norm1(low), high)
        return x + self.ffn(self.norm2(x))


class CRFB(nn.Module):
    """Cross-refinement fusion block: ``depth`` steps of 2 SRWAB + HFERB + HFB."""

    def __init__(self, dim: int, depth: int, num_heads: int, options: dict) -> None:
        super().__init__()
        split = options["split_size"]
        self.srwa_blocks = nn.ModuleList(
            SRWAB(dim, num_heads, split, i % 2 == 1, options) for i in range(2 * depth)
        )
        self.hfer_blocks = nn.ModuleList(HFERB(dim) for _ in range(depth))
        self.hf_blocks = nn.ModuleList(HFB(dim, num_heads, options["hfb_hidden"]) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (hfer, hfb) in enumerate(zip(self.hfer_blocks, self.hf_blocks, strict=True)):
            low = x.permute(0, 2, 3, 1)
            low = self.srwa_blocks[2 * i + 1](self.srwa_blocks[2 * i](low))
            x = hfb(low.permute(0, 3, 1, 2), hfer(x))
        return x


class RCRFG(nn.Module):
    """Residual cross-refinement fusion group."""

    def __init__(self, dim: int, depth: int, num_heads: int, options: dict) -> None:
        super().__init__()
        self.residual_group = CRFB(dim, depth, num_heads, options)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.residual_group(x)) + x


def mirror_pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Extend bottom and right by a mirror image (edge pixels repeated) to the next multiple
    of ``multiple`` strictly above the size, a full ``multiple`` when the size already is one:
    what the official inference script does before running the network."""
    for dim in (2, 3):
        target = (x.shape[dim] // multiple + 1) * multiple
        while x.shape[dim] < target:
            x = torch.cat([x, torch.flip(x, [dim])], dim)
        x = x.narrow(dim, 0, target)
    return x


class CRAFT(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        embed_dim: int = 48,
        depths: tuple[int, ...] = (2, 2, 2, 2),
        num_heads: tuple[int, ...] = (6, 6, 6, 6),
        *,
        split_size: tuple[int, int] = _DEFAULT_SPLIT,
        mlp_ratio: float = 2.0,
        hfb_hidden: int | None = None,
        swapped_tables: bool = False,
        resi_connection: str = "1conv",
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        # The official inference script pads to multiples of 16 (its window_size); any other
        # window sides need a multiple of theirs too.
        self.size_multiple = lcm(16, lcm(*split_size))
        mean = _RGB_MEAN if in_channels == 3 else (0.0,) * in_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        options = {
            "split_size": tuple(split_size),
            "mlp_ratio": mlp_ratio,
            "hfb_hidden": hfb_hidden or int(embed_dim * 2.66),  # the official expansion 2.66
            "swapped_tables": swapped_tables,
        }
        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.layers = nn.ModuleList(
            RCRFG(embed_dim, d, h, options) for d, h in zip(depths, num_heads, strict=True)
        )
        self.norm = ChannelLayerNorm(embed_dim)
        body = nn.Conv2d(embed_dim, embed_dim, 3, padding=1) if resi_connection == "1conv" else nn.Identity()
        self.conv_after_body = body
        self.upsample = nn.Sequential(
            nn.Conv2d(embed_dim, scale * scale * in_channels, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        mean = self.mean.to(x.dtype)
        x = self.conv_first(mirror_pad(x, self.size_multiple) - mean)
        features = x
        for layer in self.layers:
            features = layer(features)
        x = self.conv_after_body(self.norm(features)) + x
        return (self.upsample(x) + mean)[:, :, : h * self.scale, : w * self.scale]


# ---------------------------------------------------------------- reading released files


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the offset tables and position indices: the network recomputes them."""
    return {k: v for k, v in state_dict.items() if k not in _BUFFERS}


def _windows(state_dict: dict) -> tuple[tuple[int, int], bool]:
    """Window sides (s0, s1) and whether the file's offset tables are swapped. The index of
    the first branch gives the sides; without it, its offset table (as the official code
    makes it); without either, the released default."""
    split = decode_index(state_dict.get("relative_position_index_h"))
    table = grid_extent(state_dict.get("biases_h"))
    if split is None:
        return (table or _DEFAULT_SPLIT), False
    swapped = table is not None and split[0] != split[1] and table == (split[1], split[0])
    return split, swapped


def _layers(state_dict: dict) -> list[tuple[int, int]] | None:
    """(depth, heads) of each group, from its HFB blocks and their temperatures."""
    layers = []
    while shape_of(state_dict, f"layers.{len(layers)}.conv.weight", 4) is not None:
        prefix = f"layers.{len(layers)}.residual_group.hf_blocks."
        depth = 0
        while shape_of(state_dict, f"{prefix}{depth}.attn.temperature", 3) is not None:
            depth += 1
        if depth == 0:
            return None
        layers.append((depth, shape_of(state_dict, f"{prefix}0.attn.temperature", 3)[0]))
    return layers or None


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    try:
        return _detect(state_dict)
    except (TypeError, ValueError, AttributeError, RuntimeError, IndexError):
        return None


def _detect(state_dict: dict) -> dict | None:
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) for k in state_dict):
        return None
    first = shape_of(state_dict, "conv_first.weight", 4)
    up = shape_of(state_dict, "upsample.0.weight", 4)
    block = "layers.0.residual_group."
    if first is None or up is None or shape_of(state_dict, "norm.body.weight", 1) is None:
        return None
    mlp = shape_of(state_dict, block + "srwa_blocks.0.mlp.fc1.weight", 2)
    hfb = shape_of(state_dict, block + "hf_blocks.0.ffn.project_out.weight", 4)
    hfer = shape_of(state_dict, block + "hfer_blocks.0.last_fc.weight", 4)
    layers = _layers(state_dict)
    if mlp is None or hfb is None or hfer is None or layers is None:
        return None
    embed_dim, in_channels = first[:2]
    scale = math.isqrt(up[0] // in_channels)
    if scale < 1 or scale * scale * in_channels != up[0] or up[1] != embed_dim:
        return None
    split, swapped = _windows(state_dict)
    return {
        "scale": scale,
        "in_channels": in_channels,
        "embed_dim": embed_dim,
        "depths": [d for d, _ in layers],
        "num_heads": [h for _, h in layers],
        "split_size": list(split),
        "mlp_ratio": mlp[0] / embed_dim,
        "hfb_hidden": hfb[1],
        "swapped_tables": swapped,
        "resi_connection": "1conv" if shape_of(state_dict, "conv_after_body.weight", 4) else "identity",
    }


SPECS = (
    ArchSpec(
        "craft",
        "Li et al. 2023, cross-refinement adaptive feature modulation transformer",
        CRAFT,
        detect=detect,
        detect_order=21,
        convert=convert,
        # Window attention over a mirror-padded input and channel attention over the whole
        # input: tiles are not the whole-image run.
        tiles_equal_whole=False,
        proof="vector CRAFT_05 matches to 1e-4; NTIRE 2024 team34_craft.pth (x4) scores Set5 32.42 dB",
    ),
)
