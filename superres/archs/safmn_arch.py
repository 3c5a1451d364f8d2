"""SAFMN (Sun et al., ICCV 2023, spatially-adaptive feature modulation), key-compatible with
the official weights, and the NTIRE 2023 efficient-SR variant of the same authors
(``safmn_ntire``: no per-block norms, bias-free blocks, a global response norm after the first
conv, coarser pooling, and a bilinear image skip). The blocks here also serve SAFMN-BCIE
(:mod:`superres.archs.safmn_bcie_arch`)."""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec

_LEVELS = 4  # SAFM splits the channels into four levels (fixed in the official code)


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of an N x C x H x W tensor (eps 1e-6, as released)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt-V2): pools over the whole input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = torch.norm(x, p=2, dim=(2, 3), keepdim=True)
        relative = spatial / (spatial.mean(dim=1, keepdim=True) + 1e-6)
        return self.gamma * (x * relative) + self.beta + x


class CCM(nn.Module):
    """Convolutional channel mixer: 3x3 conv to ``hidden`` channels, GELU, 1x1 conv back."""

    def __init__(self, dim: int, hidden: int, bias: bool = True) -> None:
        super().__init__()
        self.ccm = nn.Sequential(
            nn.Conv2d(dim, hidden, 3, padding=1, bias=bias), nn.GELU(), nn.Conv2d(hidden, dim, 1, bias=bias)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ccm(x)


def _bins(size: int, out: int, width: int, device: torch.device) -> torch.Tensor:
    """out x width indices of adaptive pooling's bins over ``size`` (bin i spans
    floor(i size / out) to ceil((i + 1) size / out); short bins repeat their last index)."""
    i = torch.arange(out, device=device)
    start, end = (i * size) // out, ((i + 1) * size + out - 1) // out
    return torch.minimum(start[:, None] + torch.arange(width, device=device), end[:, None] - 1)


def adaptive_max_pool(x: torch.Tensor, out_h: int, out_w: int, width: int) -> torch.Tensor:
    """``F.adaptive_max_pool2d(x, (out_h, out_w))``, whose bins are at most ``width`` wide.
    ONNX has no adaptive pooling to a size known only at run time, so an export gathers
    each bin's pixels and takes their maximum (rows, then columns): the same values."""
    if not torch.compiler.is_exporting():
        return F.adaptive_max_pool2d(x, (out_h, out_w))
    n, c, h, w = x.shape
    rows = x[:, :, _bins(h, out_h, width, x.device).flatten(), :].reshape(n, c, out_h, width, w).amax(3)
    cols = rows[..., _bins(w, out_w, width, x.device).flatten()].reshape(n, c, out_h, out_w, width)
    return cols.amax(4)


class SAFM(nn.Module):
    """Four channel groups: the first gets a depthwise 3x3 at full size, group i > 0 is
    max-pooled to (H, W) / 2^(i + shift), convolved and nearest-upsampled back; a 1x1 conv
    mixes the groups and its GELU modulates the input."""

    def __init__(self, dim: int, shift: int = 0, bias: bool = True) -> None:
        super().__init__()
        chunk = dim // _LEVELS
        self.shift = shift
        self.mfr = nn.ModuleList(
            nn.Conv2d(chunk, chunk, 3, padding=1, groups=chunk, bias=bias) for _ in range(_LEVELS)
        )
        self.aggr = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        out = []
        for i, (part, conv) in enumerate(zip(x.chunk(_LEVELS, dim=1), self.mfr, strict=True)):
            if i == 0:
                out.append(conv(part))
                continue
            div = 2 ** (i + self.shift)
            pooled = conv(adaptive_max_pool(part, h // div, w // div, 2 * div))
            out.append(F.interpolate(pooled, size=(h, w), mode="nearest"))
        return F.gelu(self.aggr(torch.cat(out, dim=1))) * x


class AttBlock(nn.Module):
    """SAFM then CCM, each residual; the paper's form norms each branch's input."""

    def __init__(self, dim: int, hidden: int, ntire: bool = False) -> None:
        super().__init__()
        self.prenorm = not ntire
        if self.prenorm:
            self.norm1 = LayerNorm2d(dim)
            self.norm2 = LayerNorm2d(dim)
        self.safm = SAFM(dim, shift=int(ntire), bias=not ntire)
        self.ccm = CCM(dim, hidden, bias=not ntire)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.prenorm:
            x = self.safm(self.norm1(x)) + x
            return self.ccm(self.norm2(x)) + x
        x = self.safm(x) + x
        return self.ccm(x) + x


def hidden_channels(dim: int, ffn_scale: float) -> int:
    """The CCM width, ``int(dim * ffn_scale)`` as released (robust to a detected ratio)."""
    return int(dim * ffn_scale + 1e-6)


def pad_to(x: torch.Tensor, multiple: int, minimum: int) -> torch.Tensor:
    """Pad bottom/right (edge replication) to a multiple of ``multiple`` and at least
    ``minimum`` pixels a side; the official code refuses such sizes, so any padding is ours.
    The pad always runs (often by 0 pixels), its amounts symbolic for the ONNX export."""
    h, w = x.shape[-2:]
    pad_h = torch.sym_max(minimum - h, -h % multiple)
    pad_w = torch.sym_max(minimum - w, -w % multiple)
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


class SAFMN(nn.Module):
    """The paper's SAFMN: conv, ``n_blocks`` normed SAFM/CCM blocks with a long skip,
    conv + pixel shuffle. Sizes under 8 pixels (the coarsest pooling) are edge-padded."""

    supported_scales = (2, 3, 4)

    def __init__(
        self, scale: int = 4, in_channels: int = 3, dim: int = 36, n_blocks: int = 8, ffn_scale: float = 2.0
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        hidden = hidden_channels(dim, ffn_scale)
        self.to_feat = nn.Conv2d(in_channels, dim, 3, padding=1)
        self.feats = nn.Sequential(*(AttBlock(dim, hidden) for _ in range(n_blocks)))
        self.to_img = nn.Sequential(
            nn.Conv2d(dim, in_channels * scale**2, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to(x, 1, 2 ** (_LEVELS - 1))
        x = self.to_feat(x)
        x = self.feats(x) + x
        return self.to_img(x)[..., : h * self.scale, : w * self.scale]


class SAFMNNtire(nn.Module):
    """SAFMN as entered in NTIRE 2023 efficient SR: GRN after the first conv, bias-free blocks
    without norms, no long feature skip, and a bilinear upscale of the input added to the
    output. Sizes under 16 pixels (the coarsest pooling) are edge-padded."""

    supported_scales = (2, 3, 4)

    def __init__(
        self, scale: int = 4, in_channels: int = 3, dim: int = 36, n_blocks: int = 8, ffn_scale: float = 2.0
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        hidden = hidden_channels(dim, ffn_scale)
        self.norm = GRN(dim)
        self.to_feat = nn.Conv2d(in_channels, dim, 3, padding=1)
        self.feats = nn.Sequential(*(AttBlock(dim, hidden, ntire=True) for _ in range(n_blocks)))
        self.to_img = nn.Sequential(
            nn.Conv2d(dim, in_channels * scale**2, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to(x, 1, 2**_LEVELS)
        skip = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        out = self.to_img(self.feats(self.norm(self.to_feat(x)))) + skip
        return out[..., : h * self.scale, : w * self.scale]


def block_count(state_dict: dict, prefix: str) -> int:
    """How many consecutive ``prefix<i>.`` indices (from 0) the keys hold."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state_dict if isinstance(k, str) and (m := pattern.match(k))}
    count = 0
    while count in found:
        count += 1
    return count


def block_widths(state_dict: dict, prefix: str, dim: int, bias: bool) -> int | None:
    """The CCM width of the SAFM/CCM block at ``prefix``, after checking its SAFM and CCM
    shapes (and that biases are present exactly when ``bias``); None when they do not fit."""
    mfr = conv_shape(state_dict, f"{prefix}safm.mfr.0.weight")
    aggr = conv_shape(state_dict, f"{prefix}safm.aggr.weight")
    expand = conv_shape(state_dict, f"{prefix}ccm.ccm.0.weight")
    shrink = conv_shape(state_dict, f"{prefix}ccm.ccm.2.weight")
    if mfr is None or aggr is None or expand is None or shrink is None or dim % _LEVELS:
        return None
    if mfr != (dim // _LEVELS, 1, 3, 3) or aggr != (dim, dim, 1, 1) or expand[1:] != (dim, 3, 3):
        return None
    if shrink != (dim, expand[0], 1, 1) or (f"{prefix}safm.aggr.bias" in state_dict) != bias:
        return None
    return expand[0]


def _image_ends(state_dict: dict, first: str, last: str) -> tuple[int, int, int] | None:
    """(in_channels, dim, scale) from the first conv and the pixel-shuffle conv."""
    head = conv_shape(state_dict, first)
    tail = conv_shape(state_dict, last)
    if head is None or tail is None or head[2:] != (3, 3) or tail[1] != head[0]:
        return None
    in_channels, dim = head[1], head[0]
    scale = round((tail[0] / in_channels) ** 0.5)
    if scale < 1 or scale * scale * in_channels != tail[0]:
        return None
    return in_channels, dim, scale


def _detect(state_dict: dict, ntire: bool) -> dict | None:
    if not is_state_dict(state_dict) or ("norm.gamma" in state_dict) != ntire:
        return None
    if "to_feat.1.weight" in state_dict or "feats.0.layers.0.safm.aggr.weight" in state_dict:
        return None  # SAFMN-BCIE
    ends = _image_ends(state_dict, "to_feat.weight", "to_img.0.weight")
    if ends is None or ("feats.0.norm1.weight" in state_dict) == ntire:
        return None
    in_channels, dim, scale = ends
    n_blocks = block_count(state_dict, "feats.")
    hidden = block_widths(state_dict, "feats.0.", dim, bias=not ntire) if n_blocks else None
    if hidden is None or scale < 2:
        return None
    return {
        "scale": scale,
        "in_channels": in_channels,
        "dim": dim,
        "n_blocks": n_blocks,
        "ffn_scale": hidden / dim,
    }


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    return _detect(state_dict, ntire=False)


def detect_ntire(state_dict: dict[str, torch.Tensor]) -> dict | None:
    return _detect(state_dict, ntire=True)


SPECS = (
    ArchSpec(
        "safmn",
        "Sun et al. 2023, spatially-adaptive feature modulation",
        SAFMN,
        detect=detect,
        detect_order=63,
        # SAFM max-pools each tile to a fraction of its own size: tiles differ from the whole.
        tiles_equal_whole=False,
        proof="vectors SAFMN_00, SAFMN_02 match to 1e-4",
    ),
    ArchSpec(
        "safmn_ntire",
        "SAFMN as entered in NTIRE 2023 efficient SR (GRN, bilinear skip)",
        SAFMNNtire,
        detect=detect_ntire,
        detect_order=64,
        tiles_equal_whole=False,  # GRN and SAFM pool over the whole tile
        proof="team15_SAFMN.pth x4 Set5 32.16 dB (bicubic 28.42); all sets: benchmarks/PUBLISHED.md",
    ),
)
