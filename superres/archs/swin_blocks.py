"""Pieces shared by the window-attention networks SwinIR, Swin2SR and HAT: window partition,
relative position indices, shifted-window masks, padding to a multiple of the window, the
reconstruction heads, and the defensive state-dict readers their ``detect`` functions use.

Index buffers and attention masks depend only on the window size and the input size, so the
networks recompute them; released files that store them have them dropped by
:func:`drop_buffers`.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import shape_of

# Buffers released files may hold; our networks recompute them.
BUFFER_NAMES = (
    "relative_position_index",
    "relative_position_index_SA",
    "relative_position_index_OCA",
    "relative_coords_table",
    "attn_mask",
)
RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K mean the official code subtracts from RGB input
NUM_FEAT = 64  # width of the official reconstruction heads


def window_partition(x: torch.Tensor, size: int) -> torch.Tensor:
    """B x H x W x C -> (B * windows) x size*size x C, windows in row-major order per image."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // size, size, w // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size * size, c)


def window_reverse(windows: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * windows) x size*size x C -> B x H x W x C."""
    c = windows.shape[-1]
    x = windows.reshape(-1, height // size, width // size, size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, height, width, c)


def relative_position_index(size: int) -> torch.Tensor:
    """size² x size² index into a (2 size - 1)² table of relative offsets (row offset major)."""
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (size - 1)
    return offsets[..., 0] * (2 * size - 1) + offsets[..., 1]


def shift_mask(height: int, width: int, size: int, shift: int) -> torch.Tensor:
    """windows x size² x size² additive mask of shifted-window attention: -100 between
    pixels that the cyclic shift brought together from different image regions (the image
    is cut into 3 x 3 regions at size and shift pixels from the bottom and right edges;
    computed with tensor ops, so an ONNX export follows the input size)."""
    rows, cols = torch.arange(height), torch.arange(width)
    row_band = (rows >= height - size).long() + (rows >= height - shift).long()
    col_band = (cols >= width - size).long() + (cols >= width - shift).long()
    regions = (row_band[:, None] * 3 + col_band[None, :]).float()[None, :, :, None]
    labels = window_partition(regions, size).squeeze(-1)
    differ = labels.unsqueeze(1) - labels.unsqueeze(2)
    return differ.masked_fill(differ != 0, -100.0).masked_fill(differ == 0, 0.0)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right by reflection to a multiple of ``multiple`` (as the official
    ``check_image_size``); inputs smaller than the padding are reflected in several steps,
    and a single row or column is repeated. The steps are a fixed number (each may pad 0
    pixels) with symbolic amounts, so an ONNX export pads any size as PyTorch does."""
    pad_h = -x.shape[-2] % multiple
    pad_w = -x.shape[-1] % multiple
    for _ in range(max(multiple - 1, 1).bit_length() + 1):  # a side of s >= 2 pixels reaches 2s - 1
        step_h = torch.sym_min(pad_h, x.shape[-2] - 1)
        step_w = torch.sym_min(pad_w, x.shape[-1] - 1)
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def to_image(tokens: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """B x HW x C tokens -> B x C x H x W."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, size[0], size[1])


def to_tokens(image: torch.Tensor) -> torch.Tensor:
    """B x C x H x W -> B x HW x C."""
    return image.flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def add_mask(attn: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Add a windows x N x N mask to (B * windows) x heads x N x M attention logits."""
    if mask is None:
        return attn
    windows = mask.shape[0]
    shaped = attn.reshape(-1, windows, *attn.shape[1:]) + mask.unsqueeze(1).unsqueeze(0)
    return shaped.reshape(attn.shape)


def windowed(
    attention: Callable[..., torch.Tensor], x: torch.Tensor, window: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """Run ``attention`` over the windows of B x H x W x C ``x``; with a mask, over windows
    cyclically shifted by half a window (and shifted back)."""
    _, h, w, _ = x.shape
    shift = window // 2 if mask is not None else 0
    if shift:
        x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    x = window_reverse(attention(window_partition(x, window), mask), window, h, w)
    if shift:
        x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
    return x


class PatchNorm(nn.Module):
    """The official ``patch_embed`` with patch size 1 and no projection: only its LayerNorm."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


def residual_conv(dim: int, kind: str) -> nn.Module:
    """The conv closing a residual group: '1conv' one 3x3; '3conv' 3x3 to dim/4, 1x1, 3x3 back."""
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    if kind == "3conv":
        quarter = dim // 4
        return nn.Sequential(
            nn.Conv2d(dim, quarter, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(quarter, quarter, 1, 1, 0),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(quarter, dim, 3, 1, 1),
        )
    raise ValueError(f"unknown resi_connection {kind!r}")


def pixelshuffle_upsample(scale: int, num_feat: int) -> nn.Sequential:
    """Conv + PixelShuffle(2) per factor 2 of a power-of-two scale, or one x3 step."""
    layers: list[nn.Module] = []
    if scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
    elif scale >= 2 and scale & (scale - 1) == 0:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
    else:
        raise ValueError(f"pixelshuffle upsampling supports 2^n and 3, not {scale}")
    return nn.Sequential(*layers)


def one_step_upsample(scale: int, dim: int, out_channels: int) -> nn.Sequential:
    """'pixelshuffledirect': one conv to scale² x out channels, then PixelShuffle."""
    return nn.Sequential(nn.Conv2d(dim, scale * scale * out_channels, 3, 1, 1), nn.PixelShuffle(scale))


def image_mean(in_channels: int) -> torch.Tensor:
    """The mean the official code subtracts: the DIV2K RGB mean for 3 channels, else zero."""
    values = RGB_MEAN if in_channels == 3 else (0.0,) * in_channels
    return torch.tensor(values).view(1, in_channels, 1, 1)


# ---------------------------------------------------------------- reading state dicts


def is_tensor_dict(state_dict: Any) -> bool:
    """A dict of tensors named by strings: floating point, integer scalars, or integer
    index buffers (which released window-attention files hold)."""
    if not isinstance(state_dict, dict) or not state_dict:
        return False
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            return False
        if not value.is_floating_point() and value.dim() != 0 and not is_buffer(key):
            return False
    return True


def is_buffer(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in BUFFER_NAMES


def drop_buffers(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` without the index buffers and masks the networks recompute."""
    return {k: v for k, v in state_dict.items() if not is_buffer(k)}


def layer_depths(state_dict: dict[str, Any], pattern: str) -> list[int] | None:
    """Blocks per layer from keys matching ``pattern`` (two groups: layer, block index);
    None unless layers and blocks are numbered 0, 1, 2, ... without gaps."""
    blocks: dict[int, set[int]] = {}
    regex = re.compile(pattern)
    for key in state_dict:
        found = regex.match(key)
        if found:
            blocks.setdefault(int(found.group(1)), set()).add(int(found.group(2)))
    if not blocks or sorted(blocks) != list(range(len(blocks))):
        return None
    depths = [len(blocks[i]) for i in range(len(blocks))]
    if any(sorted(blocks[i]) != list(range(depths[i])) for i in range(len(blocks))):
        return None
    return depths


def square_side(count: int, extra: int = 0) -> int | None:
    """(s + extra) where count == s², or None when count is not a perfect square."""
    side = math.isqrt(count)
    return side + extra if side * side == count else None


def window_from_buffers(state_dict: dict[str, Any], prefix: str) -> int | None:
    """Window size from a stored relative_position_index (ws² x ws²), or None."""
    index = state_dict.get(f"{prefix}relative_position_index")
    if isinstance(index, torch.Tensor) and index.dim() == 2 and index.shape[0] == index.shape[1]:
        return square_side(int(index.shape[0]))
    return None


def fits(builder: Callable[..., nn.Module], params: dict[str, Any], state_dict: dict[str, Any]) -> bool:
    """Whether ``builder(**params)``, built on the meta device, has exactly the file's
    parameters (buffers aside), with the same shapes, all floating point."""
    expected = _meta_shapes(builder, repr(sorted(params.items())))
    found = drop_buffers(state_dict)
    if expected is None or set(found) != set(expected):
        return False
    return all(
        isinstance(found[k], torch.Tensor) and found[k].is_floating_point() and tuple(found[k].shape) == v
        for k, v in expected.items()
    )


@functools.lru_cache(maxsize=32)
def _meta_shapes(builder: Callable[..., nn.Module], params: str) -> dict[str, tuple[int, ...]] | None:
    """Parameter shapes of ``builder(**params)`` (``params``: the repr of its sorted items)."""
    try:
        with torch.device("meta"):
            state = builder(**dict(ast.literal_eval(params))).state_dict()
    except Exception:  # odd params fail in any way: not this network
        return None
    return {k: tuple(v.shape) for k, v in state.items()}


# ---------------------------------------------------------------- the shared network frame


class PatchEmbed(nn.Module):
    """Image -> tokens: an optional 1x1 ``proj`` conv (Swin2SR), then an optional LayerNorm."""

    def __init__(self, dim: int, *, proj: bool, norm: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, 1) if proj else None
        self.norm = nn.LayerNorm(dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = to_tokens(self.proj(x) if self.proj is not None else x)
        return self.norm(tokens) if self.norm is not None else tokens


class BlockList(nn.Module):
    """A residual group's blocks; odd blocks attend over shifted windows (``mask``)."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, size, mask if i % 2 else None)
        return x


class ResidualGroup(nn.Module):
    """RSTB / RHAG: blocks, back to an image, a conv, (Swin2SR: a 1x1 embedding), plus input."""

    def __init__(self, group: nn.Module, dim: int, resi_connection: str, *, proj: bool = False) -> None:
        super().__init__()
        self.residual_group = group
        self.conv = residual_conv(dim, resi_connection)
        self.patch_embed = PatchEmbed(dim, proj=True, norm=False) if proj else None

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor) -> torch.Tensor:
        y = self.conv(to_image(self.residual_group(x, size, mask), size))
        return (self.patch_embed(y) if self.patch_embed is not None else to_tokens(y)) + x


UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv", "", "pixelshuffle_aux")


class WindowSR(nn.Module):
    """The frame SwinIR, Swin2SR and HAT share: conv_first, window-attention residual groups
    over tokens, conv_after_body with a long skip, and one of the official reconstruction
    heads (``upsampler``). Subclasses build one residual group in :meth:`make_layer`.

    Input is padded (reflect) to a multiple of the window and the output cropped, as the
    official ``check_image_size``; the mean is subtracted and the range scaled inside."""

    supported_scales = (1, 2, 3, 4, 8)
    patch_proj = False  # Swin2SR's patch embeddings hold a 1x1 conv

    def __init__(
        self, *, scale: int, in_channels: int, embed_dim: int, window_size: int, **head: Any
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.window_size = self.size_multiple = window_size
        self.img_range = float(head.get("img_range", 1.0))
        upsampler = head.get("upsampler")  # None: the classical head, or none at x1
        self.upsampler = upsampler if upsampler is not None else ("pixelshuffle" if scale > 1 else "")
        self.register_buffer("mean", image_mean(in_channels), persistent=False)
        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim, proj=self.patch_proj, norm=True)
        depths, heads = head["depths"], head["num_heads"]
        self.layers = nn.ModuleList(self.make_layer(d, h) for d, h in zip(depths, heads, strict=True))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, head.get("resi_connection", "1conv"))
        _build_head(self, embed_dim, int(head.get("num_feat", NUM_FEAT)))

    def make_layer(self, depth: int, num_heads: int) -> nn.Module:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        mask = shift_mask(size[0], size[1], self.window_size, self.window_size // 2).to(x)
        tokens = self.patch_embed(x)
        for layer in self.layers:
            tokens = layer(tokens, size, mask)
        return to_image(self.norm(tokens), size)

    def deep(self, x: torch.Tensor) -> torch.Tensor:
        """Shallow features plus the deep ones (the long skip)."""
        first = self.conv_first(x)
        return self.conv_after_body(self.forward_features(first)) + first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = (pad_to_multiple(x, self.window_size) - self.mean) * self.img_range
        y = _run_head(self, x, (h * self.scale, w * self.scale))
        return (y / self.img_range + self.mean)[..., : h * self.scale, : w * self.scale]


def _lrelu_conv(cin: int, cout: int, slope: float = 0.01) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.LeakyReLU(slope, inplace=True))


def _build_head(net: WindowSR, dim: int, num_feat: int) -> None:
    """The official reconstruction modules of ``net.upsampler``, under their official names."""
    kind, scale, out = net.upsampler, net.scale, net.out_channels
    if kind not in UPSAMPLERS:
        raise ValueError(f"unknown upsampler {kind!r}")
    if (scale == 1) != (kind == ""):
        raise ValueError(f"upsampler {kind!r} does not fit scale {scale}")
    if kind in ("pixelshuffle", "pixelshuffle_aux", "nearest+conv"):
        net.conv_before_upsample = _lrelu_conv(dim, num_feat)
    if kind in ("pixelshuffle", "pixelshuffle_aux"):
        net.upsample = pixelshuffle_upsample(scale, num_feat)
    if kind == "pixelshuffle_aux":
        net.conv_bicubic = nn.Conv2d(net.in_channels, num_feat, 3, 1, 1)
        net.conv_aux = nn.Conv2d(num_feat, out, 3, 1, 1)
        net.conv_after_aux = _lrelu_conv(out, num_feat)
    if kind == "pixelshuffledirect":
        net.upsample = one_step_upsample(scale, dim, out)
    if kind == "nearest+conv":
        if scale not in (2, 4, 8):
            raise ValueError(f"nearest+conv upsampling is x2, x4 or x8, not x{scale}")
        for step in range(1, int(math.log2(scale)) + 1):
            setattr(net, f"conv_up{step}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        net.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
    if kind != "pixelshuffledirect":
        net.conv_last = nn.Conv2d(dim if kind == "" else num_feat, out, 3, 1, 1)


def _run_head(net: Any, x: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    kind = net.upsampler
    if kind == "":  # denoising / JPEG: a residual on the input
        return x + net.conv_last(net.deep(x))
    if kind == "pixelshuffledirect":
        return net.upsample(net.deep(x))
    if kind == "pixelshuffle_aux":
        # as the official code: bicubic of the padded input, resized to the unpadded target
        bicubic = F.interpolate(x, size=out_size, mode="bicubic", align_corners=False)
        y = net.conv_after_aux(net.conv_aux(net.conv_before_upsample(net.deep(x))))
        y = net.upsample(y)[..., : out_size[0], : out_size[1]] + net.conv_bicubic(bicubic)
        return net.conv_last(y)
    y = net.conv_before_upsample(net.deep(x))
    if kind == "pixelshuffle":
        return net.conv_last(net.upsample(y))
    for step in range(1, int(math.log2(net.scale)) + 1):
        conv = getattr(net, f"conv_up{step}")
        y = F.leaky_relu(conv(F.interpolate(y, scale_factor=2, mode="nearest")), 0.2)
    return net.conv_last(F.leaky_relu(net.conv_hr(y), 0.2))


# ---------------------------------------------------------------- detection


def read_head(state_dict: dict[str, Any], embed_dim: int, channels: int) -> dict[str, Any] | None:
    """upsampler, scale and num_feat of the reconstruction head a state dict holds."""
    before = shape_of(state_dict, "conv_before_upsample.0.weight", 4)
    num_feat = before[0] if before else NUM_FEAT
    if "conv_up1.weight" in state_dict:
        kind = "nearest+conv"
        scale = 8 if "conv_up3.weight" in state_dict else 4 if "conv_up2.weight" in state_dict else 2
    elif "conv_aux.weight" in state_dict:
        kind, scale = "pixelshuffle_aux", _pixelshuffle_scale(state_dict, num_feat)
    elif before is not None:
        kind, scale = "pixelshuffle", _pixelshuffle_scale(state_dict, num_feat)
    elif (direct := shape_of(state_dict, "upsample.0.weight", 4)) is not None:
        side = square_side(direct[0] // channels) if direct[0] % channels == 0 else None
        kind, scale = "pixelshuffledirect", side
    elif "conv_last.weight" in state_dict:
        kind, scale = "", 1
    else:
        return None
    if scale is None:
        return None
    return {"upsampler": kind, "scale": scale, "num_feat": num_feat}


def _pixelshuffle_scale(state_dict: dict[str, Any], num_feat: int) -> int | None:
    convs = [shape_of(state_dict, f"upsample.{2 * i}.weight", 4) for i in range(4)]
    steps = [c for c in convs if c is not None]
    if not steps:
        return None
    if steps[0][0] == 9 * num_feat:
        return 3 if len(steps) == 1 else None
    return 2 ** len(steps)


def read_frame(state_dict: Any, block_prefix: str, heads_key: str) -> dict[str, Any] | None:
    """Parameters the three networks share, from a state dict of their layout: scale,
    in_channels, embed_dim, depths, num_heads (``heads_key``'s rows or columns, see below),
    mlp_ratio, resi_connection and the head. ``block_prefix`` is the key of a block before
    its index (``layers.{i}.residual_group.blocks.``); ``heads_key`` names, after the block
    prefix of block 0, a tensor whose last dimension (or first, for ``cpb_mlp.2.weight``)
    counts the heads."""
    if not is_tensor_dict(state_dict):
        return None
    first = shape_of(state_dict, "conv_first.weight", 4)
    pattern = re.escape(block_prefix).replace(r"\{i\}", r"(\d+)") + r"(\d+)\."
    depths = layer_depths(state_dict, pattern) if first else None
    if first is None or depths is None:
        return None
    embed_dim, in_channels = first[0], first[1]
    heads = []
    for i in range(len(depths)):
        key = block_prefix.format(i=i) + "0." + heads_key
        table = state_dict.get(key)
        if not isinstance(table, torch.Tensor) or table.dim() < 1 or not table.is_floating_point():
            return None
        heads.append(int(table.shape[0] if heads_key.startswith("attn.cpb_mlp") else table.shape[-1]))
    fc1 = shape_of(state_dict, block_prefix.format(i=0) + "0.mlp.fc1.weight", 2)
    head = read_head(state_dict, embed_dim, in_channels)
    if fc1 is None or head is None or min(heads) <= 0:
        return None
    resi = "3conv" if "conv_after_body.0.weight" in state_dict else "1conv"
    return {
        "scale": head["scale"],
        "in_channels": in_channels,
        "embed_dim": embed_dim,
        "depths": depths,
        "num_heads": heads,
        "mlp_ratio": fc1[0] / embed_dim,
        "resi_connection": resi,
        "upsampler": head["upsampler"],
        "num_feat": head["num_feat"],
    }
