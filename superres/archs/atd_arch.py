"""ATD (Zhang et al., CVPR 2024, "Transcending the Limit of Local Window: Advanced
Super-Resolution Transformer with Adaptive Token Dictionary"), key-compatible with the
released ATD and ATD-light checkpoints.

Each layer mixes three attentions over one shared qkv projection: windowed self-attention
(shifted in every other layer), cross-attention from the pixels to a small learned token
dictionary, and self-attention inside "categories" (pixels sorted by the dictionary token
they resemble most, cut into groups). The dictionary is refined layer by layer from the
features it attracts. The relative-position index the checkpoints store is recomputed."""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import shape_of
from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import residual_conv

_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K mean the released models subtract
_PREFIX = "layers.{}.residual_group.layers.{}."


def window_partition(x: torch.Tensor, size: int) -> torch.Tensor:
    """(b, h, w, c) -> (b * windows, size * size, c), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // size, size, w // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size * size, c)


def window_reverse(windows: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> (b, h, w, c)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // size, w // size, size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(size: int) -> torch.Tensor:
    """(size^2, size^2) index into a (2 size - 1)^2 relative-position table (Swin's)."""
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))
    rel = (coords[:, :, None] - coords[:, None, :]) + (size - 1)
    return rel[0] * (2 * size - 1) + rel[1]


def shifted_window_mask(h: int, w: int, size: int) -> torch.Tensor:
    """(windows, size^2, size^2) mask, -100 between pixels a cyclic shift by size/2 joined."""
    regions = torch.zeros(1, h, w, 1)
    bounds = (slice(0, -size), slice(-size, -(size // 2)), slice(-(size // 2), None))
    label = 0
    for ys in bounds:
        for xs in bounds:
            regions[:, ys, xs, :] = label
            label += 1
    labels = window_partition(regions, size).squeeze(-1)
    diff = labels.unsqueeze(1) - labels.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention(nn.Module):
    """Multi-head attention inside windows, with a learned relative-position bias; takes qkv."""

    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("rpi", relative_position_index(window_size), persistent=False)

    def forward(self, qkv: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c3 = qkv.shape
        c = c3 // 3
        q, k, v = qkv.reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.rpi.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(x)


class TokenDictionaryAttention(nn.Module):
    """ATD-CA: pixels attend to the token dictionary (cosine similarity, learned sharpening)."""

    def __init__(self, dim: int, num_tokens: int, reduced_dim: int) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.wq = nn.Linear(dim, reduced_dim)
        self.wk = nn.Linear(dim, reduced_dim)
        self.wv = nn.Linear(dim, dim)
        self.scale = nn.Parameter(torch.full((num_tokens,), 0.5))

    def forward(self, x: torch.Tensor, td: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = F.normalize(self.wq(x), dim=-1)
        k = F.normalize(self.wk(td), dim=-1)
        attn = q @ k.transpose(-2, -1)
        attn = attn * (1 + self.scale.clamp(0, 1) * math.log(self.num_tokens))
        attn = attn.softmax(dim=-1)
        return attn @ self.wv(td), attn


class CategoryAttention(nn.Module):
    """AC-MSA: pixels sorted by their most similar dictionary token, attention within groups."""

    def __init__(self, dim: int, num_heads: int, category_size: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.category_size = category_size
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(1, 1)))

    def forward(self, qkv: torch.Tensor, sim: torch.Tensor) -> torch.Tensor:
        b, n, c3 = qkv.shape
        c = c3 // 3
        group = min(n, self.category_size)
        groups = (n + group - 1) // group
        pad = groups * group - n
        order = torch.sort(sim.argmax(dim=-1), dim=-1, stable=False)[1]
        inverse = torch.empty_like(order).scatter_(
            1, order, torch.arange(n, device=order.device).expand(b, n).contiguous()
        )
        shuffled = torch.gather(qkv, 1, order.unsqueeze(-1).expand(b, n, c3))
        # the last group is filled with the sequence's own tail, reversed
        padded = torch.cat((shuffled, shuffled[:, n - pad :].flip(1)), dim=1)
        q, k, v = padded.reshape(b, groups, group, 3, self.num_heads, c // self.num_heads).permute(
            3, 0, 1, 4, 2, 5
        )
        limit = torch.log(torch.tensor(100.0, device=qkv.device))
        attn = (q @ k.transpose(-2, -1)) * torch.clamp(self.logit_scale, max=limit).exp()
        y = (attn.softmax(dim=-1) @ v).permute(0, 1, 3, 2, 4).reshape(b, n + pad, c)[:, :n]
        y = torch.gather(y, 1, inverse.unsqueeze(-1).expand(b, n, c))
        return self.proj(y)


class DepthwiseConv(nn.Module):
    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.depthwise_conv = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels), nn.GELU()
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        x = self.depthwise_conv(x.transpose(1, 2).reshape(b, c, *size))
        return x.flatten(2).transpose(1, 2)


class ConvFFN(nn.Module):
    def __init__(self, dim: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.dwconv = DepthwiseConv(hidden, kernel_size)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.act(self.fc1(x))
        return self.fc2(x + self.dwconv(x, size))


class ATDLayer(nn.Module):
    """One ATD transformer layer; all but a block's last refine the token dictionary."""

    def __init__(self, cfg: dict, shift: int, is_last: bool) -> None:
        super().__init__()
        dim, tokens = cfg["dim"], cfg["num_tokens"]
        self.window_size, self.shift, self.is_last = cfg["window_size"], shift, is_last
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        if not is_last:
            self.norm3 = nn.InstanceNorm1d(tokens, affine=True)
            self.sigma = nn.Parameter(torch.zeros(tokens, 1))
        self.wqkv = nn.Linear(dim, 3 * dim)
        self.attn_win = WindowAttention(dim, cfg["window_size"], cfg["num_heads"])
        self.attn_atd = TokenDictionaryAttention(dim, tokens, cfg["reduced_dim"])
        self.attn_aca = CategoryAttention(dim, cfg["num_heads"], cfg["category_size"])
        self.convffn = ConvFFN(dim, int(dim * cfg["mlp_ratio"]), cfg["kernel_size"])

    def forward(
        self, x: torch.Tensor, td: torch.Tensor, size: tuple[int, int], mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        (h, w), (b, n, c) = size, x.shape
        qkv = self.wqkv(self.norm1(x))
        x_atd, sim = self.attn_atd(self.norm1(x), td)
        x_aca = self.attn_aca(qkv, sim)
        grid = qkv.reshape(b, h, w, 3 * c)
        if self.shift:
            grid = torch.roll(grid, (-self.shift, -self.shift), dims=(1, 2))
        windows = self.attn_win(window_partition(grid, self.window_size), mask if self.shift else None)
        x_win = window_reverse(windows, self.window_size, h, w)
        if self.shift:
            x_win = torch.roll(x_win, (self.shift, self.shift), dims=(1, 2))
        x = x + x_win.reshape(b, n, c) + x_atd + x_aca
        x = x + self.convffn(self.norm2(x), size)
        if not self.is_last:
            weights = self.norm3(sim.transpose(-1, -2)).softmax(dim=-1)
            keep = torch.sigmoid(self.sigma)
            td = keep * td + (1 - keep) * (weights @ x)
        return x, td


class ResidualGroup(nn.Module):
    """The layers of one block and the block's token dictionary ``td``."""

    def __init__(self, cfg: dict, depth: int) -> None:
        super().__init__()
        half = cfg["window_size"] // 2
        self.layers = nn.ModuleList(
            ATDLayer(cfg, 0 if i % 2 == 0 else half, i == depth - 1) for i in range(depth)
        )
        self.td = nn.Parameter(torch.randn(cfg["num_tokens"], cfg["dim"]))

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor) -> torch.Tensor:
        td = self.td.expand(x.shape[0], -1, -1)
        for layer in self.layers:
            x, td = layer(x, td, size, mask)
        return x


class ATDB(nn.Module):
    """Residual block: a group of ATD layers, then a conv, with a skip connection."""

    def __init__(self, cfg: dict, depth: int, resi_connection: str) -> None:
        super().__init__()
        self.residual_group = ResidualGroup(cfg, depth)
        self.conv = residual_conv(cfg["dim"], resi_connection)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor) -> torch.Tensor:
        y = self.residual_group(x, size, mask)
        b, _, c = y.shape
        y = self.conv(y.transpose(1, 2).reshape(b, c, *size))
        return y.flatten(2).transpose(1, 2) + x


class PatchEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


def upsample_layers(scale: int, channels: int) -> list[nn.Module]:
    """Conv + PixelShuffle steps: x2 per step for powers of two, one x3 step for 3."""
    if scale == 3:
        return [nn.Conv2d(channels, 9 * channels, 3, padding=1), nn.PixelShuffle(3)]
    steps: list[nn.Module] = []
    for _ in range(int(math.log2(scale))):
        steps += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2)]
    return steps


def reflect_pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right to a multiple by mirroring, edge row/column included (as ATD,
    GRL and HAT's official test code do)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph:
        x = torch.cat([x, x.flip(-2)], dim=-2)[..., : h + ph, :]
    if pw:
        x = torch.cat([x, x.flip(-1)], dim=-1)[..., : w + pw]
    return x


class ATD(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        *,
        embed_dim: int = 48,
        depths: tuple[int, ...] = (6, 6, 6, 6),
        num_heads: tuple[int, ...] = (4, 4, 4, 4),
        window_size: int = 16,
        category_size: int = 128,
        num_tokens: int = 64,
        reducted_dim: int = 8,
        convffn_kernel_size: int = 7,
        mlp_ratio: float = 1.0,
        upsampler: str = "pixelshuffledirect",
        resi_connection: str = "1conv",
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.upsampler = upsampler
        self.window_size = self.size_multiple = window_size
        mean = _RGB_MEAN if in_channels == 3 else (0.0,) * in_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList()
        for depth, heads in zip(depths, num_heads, strict=True):
            cfg = {
                "dim": embed_dim, "window_size": window_size, "num_heads": heads,
                "num_tokens": num_tokens, "reduced_dim": reducted_dim, "category_size": category_size,
                "mlp_ratio": mlp_ratio, "kernel_size": convffn_kernel_size,
            }  # fmt: skip
            self.layers.append(ATDB(cfg, depth, resi_connection))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(embed_dim, 64, 3, padding=1), nn.LeakyReLU(inplace=True)
            )
            self.upsample = nn.Sequential(*upsample_layers(scale, 64))
            self.conv_last = nn.Conv2d(64, in_channels, 3, padding=1)
        else:
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, in_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        mask = shifted_window_mask(h, w, self.window_size).to(x)
        tokens = self.patch_embed(x)
        for layer in self.layers:
            tokens = layer(tokens, (h, w), mask)
        return self.norm(tokens).transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = reflect_pad(x, self.window_size) - self.mean
        x = self.conv_first(x)
        x = self.conv_after_body(self.forward_features(x)) + x
        if self.upsampler == "pixelshuffle":
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        else:
            x = self.upsample(x)
        return (x + self.mean)[..., : h * self.scale, : w * self.scale]


def _indices(state_dict: dict, pattern: str) -> list[int]:
    found = {int(m.group(1)) for k in state_dict if isinstance(k, str) and (m := re.match(pattern, k))}
    return sorted(found) if found == set(range(len(found))) else []


def _scale(state_dict: dict, upsampler: str, in_channels: int) -> int | None:
    if upsampler == "pixelshuffledirect":
        up = shape_of(state_dict, "upsample.0.weight", 4)
        square = up[0] // in_channels if up and up[0] % in_channels == 0 else 0
        scale = math.isqrt(square)
        return scale if scale > 1 and scale * scale == square else None
    ratios = []
    while f"upsample.{2 * len(ratios)}.weight" in state_dict and len(ratios) < 4:
        shape = shape_of(state_dict, f"upsample.{2 * len(ratios)}.weight", 4)
        if shape is None or shape[1] != 64 or shape[0] % 64:
            return None
        ratios.append(shape[0] // 64)
    return {(9,): 3, (4,): 2, (4, 4): 4, (4, 4, 4): 8}.get(tuple(ratios))


def _block_params(state_dict: dict, dim: int) -> dict | None:
    """depths, num_heads and window size of the blocks, or None."""
    blocks = _indices(state_dict, r"layers\.(\d+)\.residual_group\.td$")
    depths, heads, windows = [], [], set()
    for i in blocks:
        depth = len(_indices(state_dict, rf"layers\.{i}\.residual_group\.layers\.(\d+)\.wqkv\.weight$"))
        table = shape_of(state_dict, _PREFIX.format(i, 0) + "attn_win.relative_position_bias_table", 2)
        if not depth or table is None or dim % table[1]:
            return None
        side = math.isqrt(table[0])
        if side * side != table[0] or side % 2 == 0:
            return None
        depths.append(depth)
        heads.append(table[1])
        windows.add((side + 1) // 2)
    if not blocks or len(windows) != 1:
        return None
    return {"depths": tuple(depths), "num_heads": tuple(heads), "window_size": windows.pop()}


def _layer_params(state_dict: dict, dim: int) -> dict | None:
    """Token dictionary and feed-forward sizes, read from the first layer."""
    first = _PREFIX.format(0, 0)
    td = shape_of(state_dict, "layers.0.residual_group.td", 2)
    wq = shape_of(state_dict, first + "attn_atd.wq.weight", 2)
    scale = shape_of(state_dict, first + "attn_atd.scale", 1)
    logit = shape_of(state_dict, first + "attn_aca.logit_scale", 2)
    fc1 = shape_of(state_dict, first + "convffn.fc1.weight", 2)
    dw = shape_of(state_dict, first + "convffn.dwconv.depthwise_conv.0.weight", 4)
    qkv = shape_of(state_dict, first + "wqkv.weight", 2)
    if None in (td, wq, scale, logit, fc1, dw, qkv) or td[1] != dim or scale != (td[0],):
        return None
    if qkv != (3 * dim, dim) or fc1[1] != dim or dw[0] != fc1[0] or dw[2] != dw[3] or dw[2] % 2 == 0:
        return None
    ratio = fc1[0] / dim
    return {
        "num_tokens": td[0],
        "reducted_dim": wq[0],
        "convffn_kernel_size": dw[2],
        "mlp_ratio": int(ratio) if ratio.is_integer() else ratio,
    }


def detect(state_dict: dict) -> dict | None:
    """ATD's parameters from a state dict (its integer relative-position index may be there)."""
    if not isinstance(state_dict, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        return None
    first = shape_of(state_dict, "conv_first.weight", 4)
    if first is None or shape_of(state_dict, "patch_embed.norm.weight", 1) is None:
        return None
    dim, in_channels = first[:2]
    blocks, layer = _block_params(state_dict, dim), _layer_params(state_dict, dim)
    if blocks is None or layer is None or "absolute_pos_embed" in state_dict:
        return None
    if shape_of(state_dict, "layers.0.conv.weight", 4):
        resi = "1conv"
    elif shape_of(state_dict, "layers.0.conv.0.weight", 4):
        resi = "3conv"
    else:
        return None
    before = shape_of(state_dict, "conv_before_upsample.0.weight", 4)
    if before is not None and before[0] != 64:
        return None
    upsampler = "pixelshuffle" if before else "pixelshuffledirect"
    scale = _scale(state_dict, upsampler, in_channels)
    if scale is None or "conv_up1.weight" in state_dict:
        return None
    # Not in the shapes: the category (group) size of AC-MSA. The released ATD uses 256,
    # ATD-light (48 channels, pixelshuffledirect) 128. Vector ATD_50's output is matched with
    # 256 (7e-7), not with the 64 its INDEX entry names (2e-3).
    category = 128 if upsampler == "pixelshuffledirect" and dim == 48 else 256
    return {
        "scale": scale, "in_channels": in_channels, "embed_dim": dim, **blocks,
        "category_size": category, **layer, "upsampler": upsampler, "resi_connection": resi,
    }  # fmt: skip


def convert(state_dict: dict) -> dict:
    """Drop the relative-position index the official model stores (recomputed here)."""
    return {k: v for k, v in state_dict.items() if k != "relative_position_index_SA"}


SPECS = (
    ArchSpec(
        "atd",
        "Zhang et al. 2024, adaptive token dictionary transformer (ATD, ATD-light)",
        ATD,
        detect=detect,
        detect_order=30,
        convert=convert,
        # windowed and category attention over the padded input: tiles are not the whole run
        tiles_equal_whole=False,
        proof="vector ATD_50 matches to 1e-4",
    ),
)
