"""DITN (Liu et al., ACM MM 2023: "Unfolding once is enough: a deployment-friendly
transformer unit for super-resolution"), key-compatible with the released DITN_Real files.

The body unfolds the features into patch_size x patch_size patches, runs inception
transformer layers (channel self-attention inside each patch) on them, folds them back and
runs spatial-aware layers (large dilated depthwise convolutions) over the whole image."""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.spec import ArchSpec

StateDict = dict[str, torch.Tensor]
_PATCH = 8  # the released patch size; no weight's shape depends on it


class FeedForward(nn.Module):
    """Gated depthwise feed-forward: 1x1 up to two halves, 3x3 depthwise, GELU(a) * b, 1x1 down."""

    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class ISA(nn.Module):
    """Channel ("transposed") self-attention over one patch: cosine similarity between the
    channels' L2-normalised pixel vectors, times a learnt temperature, one head."""

    def __init__(self, dim: int, bias: bool) -> None:
        super().__init__()
        self.temperature = nn.Parameter(torch.ones(1, 1, 1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.reshape(b, c, h * w).transpose(1, 2)
        q, k, v = (t.transpose(1, 2) for t in self.qkv(tokens).chunk(3, dim=-1))  # each b x c x hw
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(1, 2)) * self.temperature).softmax(dim=-1)
        return self.project_out((attn @ v).reshape(b, c, h, w))


class SDA(nn.Module):
    """Spatial attention by large kernels: one half of a 1x1 projection, through a 5x5 and a
    dilated (3) 7x7 depthwise convolution and a 1x1, gates the other half."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.DConvs = nn.Sequential(
            nn.Conv2d(dim, dim, 5, padding=2, groups=dim),
            nn.Conv2d(dim, dim, 7, padding=9, groups=dim, dilation=3),
            nn.Conv2d(dim, dim, 1),
        )
        self.proj_first = nn.Sequential(nn.Conv2d(dim, dim * 2, 1))
        self.proj_last = nn.Sequential(nn.Conv2d(dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.proj_first(x).chunk(2, dim=1)
        return self.proj_last(value * self.DConvs(gate)) * self.scale


class _Layer(nn.Module):
    """x + mix(conv1(tanh x)), then x + ffn(conv2(tanh x)); ITL and SAL differ in the mixer."""

    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.ffn = FeedForward(dim, expansion, bias)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mix(self.conv1(torch.tanh(x)))
        return x + self.ffn(self.conv2(torch.tanh(x)))


class ITL(_Layer):
    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__(dim, expansion, bias)
        self.attn = ISA(dim, bias)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x)


class SAL(_Layer):
    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__(dim, expansion, bias)
        self.SDA = SDA(dim)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        return self.SDA(x)


class UFONE(nn.Module):
    """Unfold into patches once, ITLs per patch, fold back, SALs over the whole image."""

    def __init__(self, dim: int, expansion: float, bias: bool, blocks: tuple[int, int], patch: int) -> None:
        super().__init__()
        self.patch = patch
        self.ITLs = nn.Sequential(*[ITL(dim, expansion, bias) for _ in range(blocks[0])])
        self.SALs = nn.Sequential(*[SAL(dim, expansion, bias) for _ in range(blocks[1])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.patch
        patches = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(-1, c, p, p)
        patches = self.ITLs(patches).reshape(b, h // p, w // p, c, p, p)
        return self.SALs(patches.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w))


class DITN(nn.Module):
    """Shallow 3x3 conv, UFONE blocks, 3x3 conv with a long skip, one-step pixel shuffle.

    The input is padded (reflecting) at the bottom and right to a multiple of the patch size
    as released, and the output cropped back. The released network always outputs RGB."""

    supported_scales = (1, 2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        dim: int = 60,
        itl_blocks: int = 4,
        sal_blocks: int = 4,
        ufone_blocks: int = 1,
        ffn_expansion_factor: float = 2.0,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels, self.out_channels = in_channels, 3
        self.size_multiple = _PATCH
        self.sft = nn.Conv2d(in_channels, dim, 3, padding=1)
        blocks = (itl_blocks, sal_blocks)
        self.UFONE = nn.Sequential(
            *[UFONE(dim, ffn_expansion_factor, bias, blocks, _PATCH) for _ in range(ufone_blocks)]
        )
        self.conv_after_body = nn.Conv2d(dim, dim, 3, padding=1)
        self.upsample = nn.Sequential(nn.Conv2d(dim, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = _pad_to_multiple(x, self.size_multiple)
        shallow = self.sft(x)
        out = self.upsample(self.conv_after_body(self.UFONE(shallow)) + shallow)
        return out[:, :, : h * self.scale, : w * self.scale]


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom and right to a multiple; replicate what reflection cannot reach
    (an input smaller than the padding). Both pads always run (possibly by 0 pixels) and
    the amounts stay symbolic, so an ONNX export pads any size as PyTorch does."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    reflect_h, reflect_w = torch.sym_min(pad_h, h - 1), torch.sym_min(pad_w, w - 1)
    x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect")
    return F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), mode="replicate")


def _count(state_dict: StateDict, prefix: str, suffix: str) -> int | None:
    """Number of blocks ``prefix.N.`` holding ``suffix``; None unless numbered 0..n-1."""
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.{re.escape(suffix)}$")
    found = sorted(int(m.group(1)) for k in state_dict if (m := pattern.match(k)))
    return len(found) if found == list(range(len(found))) else None


def detect(state_dict: StateDict) -> dict | None:
    if not is_state_dict(state_dict) or "UFONE.0.ITLs.0.attn.temperature" not in state_dict:
        return None
    sft = conv_shape(state_dict, "sft.weight")
    up = conv_shape(state_dict, "upsample.0.weight")
    body = conv_shape(state_dict, "conv_after_body.weight")
    ffn_in = conv_shape(state_dict, "UFONE.0.ITLs.0.ffn.project_in.weight")
    qkv = state_dict.get("UFONE.0.ITLs.0.attn.qkv.weight")
    if None in (sft, up, body, ffn_in) or not isinstance(qkv, torch.Tensor):
        return None
    dim, in_channels = sft[:2]
    scale = round((up[0] / 3) ** 0.5)
    hidden, expansion = ffn_in[0] // 2, ffn_in[0] / 2 / dim
    if up[:2] != (3 * scale * scale, dim) or body[:2] != (dim, dim) or tuple(qkv.shape) != (3 * dim, dim):
        return None
    if ffn_in[0] % 2 or int(dim * expansion) != hidden or scale not in DITN.supported_scales:
        return None
    counts = [
        _count(state_dict, "UFONE", "ITLs.0.attn.temperature"),
        _count(state_dict, "UFONE.0.ITLs", "attn.temperature"),
        _count(state_dict, "UFONE.0.SALs", "SDA.scale"),
    ]
    if None in counts or counts[1] == 0:
        return None
    return {
        "scale": scale,
        "in_channels": in_channels,
        "dim": dim,
        "itl_blocks": counts[1],
        "sal_blocks": counts[2],
        "ufone_blocks": counts[0],
        "ffn_expansion_factor": expansion,
        "bias": "UFONE.0.ITLs.0.attn.project_out.bias" in state_dict,
    }


SPECS = (
    ArchSpec(
        "ditn",
        "Liu et al. 2023, DITN: unfold-once transformer (patch channel attention + large-kernel convs)",
        DITN,
        detect=detect,
        detect_order=51,
        # Attention runs inside 8x8 patches laid on the padded input's grid: a tile sets its own grid.
        tiles_equal_whole=False,
        proof=(
            "vectors DITN_03, DITN_04 match to 1e-4; DITN_Real_x4/DITN_Real_GAN_x4 match "
            "spandrel's reference outputs within 1 level"
        ),
    ),
)
