"""GRL (Li et al., CVPR 2023, "Efficient and Explicit Modelling of Image Hierarchies for
Image Restoration"), key-compatible with the released GRL checkpoints (the efficient
implementation, ``models/networks/grl.py``, with linear qkv and pooled anchors).

Each block splits one qkv projection in two halves: windowed cosine attention (shifted in
every other block) and anchored stripe attention, where stripes attend through a pooled
"anchor" copy of the features (stripe -> anchor -> stripe). Position biases come from a
small MLP over log-spaced relative coordinates. The coordinate tables, indices and masks
the checkpoints store are recomputed for the input size."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.atd_arch import upsample_layers
from superres.archs.detect import shape_of
from superres.archs.grl_blocks import AnchorStripeAttention, Size, WindowAttention, tables
from superres.archs.spec import ArchSpec
from superres.archs.swin_blocks import Mlp, residual_conv

_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class AnchorLinear(nn.Module):
    """Anchors: the features pooled by ``down`` and halved in width."""

    def __init__(self, dim: int, down: int, pooling: str) -> None:
        super().__init__()
        self.pooling = (nn.MaxPool2d if pooling == "maxpool" else nn.AvgPool2d)(down, down)
        self.reduction = nn.Linear(dim, dim // 2)

    def forward(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        b, _, c = x.shape
        pooled = self.pooling(x.transpose(1, 2).reshape(b, c, *size))
        return self.reduction(pooled.permute(0, 2, 3, 1))


class AnchorProjection(nn.Module):
    def __init__(self, dim: int, down: int, pooling: str) -> None:
        super().__init__()
        self.body = nn.ModuleList([AnchorLinear(dim, down, pooling)])

    def forward(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        return self.body[0](x, size)


class QKVProjection(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.Linear(dim, 3 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MixedAttention(nn.Module):
    """Window attention on one half of the qkv channels, anchored stripes on the other."""

    def __init__(self, cfg: dict, index: int) -> None:
        super().__init__()
        dim, stripe = cfg["dim"], cfg["stripe_size"]
        horizontal = index % 2 == 0
        self.qkv = QKVProjection(dim)
        self.anchor = AnchorProjection(dim, cfg["down"], cfg["anchor_proj_type"])
        self.window_attn = WindowAttention(cfg["window_size"], cfg["heads_window"], shift=horizontal)
        self.stripe_attn = AnchorStripeAttention(
            stripe if horizontal else stripe[::-1],
            cfg["heads_stripe"],
            shift=cfg["stripe_shift"] and index % 4 in (2, 3),
            down=cfg["down"],
            kind="sh" if horizontal else "sv",
        )
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, size: Size, buffers: dict) -> torch.Tensor:
        qkv_window, qkv_stripe = self.qkv(x).chunk(2, dim=-1)
        x_window = self.window_attn(qkv_window, size, buffers)
        x_stripe = self.stripe_attn(qkv_stripe, self.anchor(x, size), size, buffers)
        return self.proj(torch.cat([x_window, x_stripe], dim=-1))


class ChannelAttention(nn.Module):
    def __init__(self, dim: int, reduction: int = 18) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dim, dim // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim // reduction, dim, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class CAB(nn.Module):
    """The local branch of GRL-B: two convs and channel attention."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cab = nn.Sequential(
            nn.Conv2d(dim, dim // 4, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(dim // 4, dim, 3, padding=1),
            ChannelAttention(dim),
        )

    def forward(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        b, _, c = x.shape
        return self.cab(x.transpose(1, 2).reshape(b, c, *size)).flatten(2).transpose(1, 2)


class MixAttnBlock(nn.Module):
    """Post-norm residual block: mixed attention (+ the local conv branch), then the MLP."""

    def __init__(self, cfg: dict, index: int) -> None:
        super().__init__()
        dim = cfg["dim"]
        self.attn = MixedAttention(cfg, index)
        self.norm1 = nn.LayerNorm(dim)
        self.conv = CAB(dim) if cfg["local_connection"] else None
        self.mlp = Mlp(dim, int(dim * cfg["mlp_ratio"]))
        self.norm2 = nn.LayerNorm(dim)
        self.branch_scales = (1.0, 1.0)  # always 1 in inference (tests: training-mode vectors)

    def forward(self, x: torch.Tensor, size: Size, buffers: dict) -> torch.Tensor:
        y = x + self.branch_scales[0] * self.norm1(self.attn(x, size, buffers))
        if self.conv is not None:
            y = y + self.conv(x, size)
        return y + self.branch_scales[1] * self.norm2(self.mlp(y))


def last_conv(dim: int, kind: str) -> nn.Module:
    """SwinIR's closing conv ('1conv', '3conv'), or GRL's '1conv1x1'."""
    return nn.Conv2d(dim, dim, 1) if kind == "1conv1x1" else residual_conv(dim, kind)


class TransformerStage(nn.Module):
    def __init__(self, cfg: dict, depth: int, conv_type: str) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MixAttnBlock(cfg, i) for i in range(depth))
        self.conv = last_conv(cfg["dim"], conv_type)

    def forward(self, x: torch.Tensor, size: Size, buffers: dict) -> torch.Tensor:
        y = x
        for block in self.blocks:
            y = block(y, size, buffers)
        b, _, c = y.shape
        return self.conv(y.transpose(1, 2).reshape(b, c, *size)).flatten(2).transpose(1, 2) + x


class GRL(nn.Module):
    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        *,
        embed_dim: int = 64,
        depths: tuple[int, ...] = (4, 4, 4, 4),
        num_heads_window: tuple[int, ...] = (2, 2, 2, 2),
        num_heads_stripe: tuple[int, ...] = (2, 2, 2, 2),
        window_size: int = 32,
        stripe_size: tuple[int, int] = (64, 64),
        stripe_shift: bool = True,
        mlp_ratio: float = 2.0,
        anchor_proj_type: str = "avgpool",
        anchor_window_down_factor: int = 4,
        local_connection: bool = False,
        conv_type: str = "1conv",
        upsampler: str = "pixelshuffledirect",
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.upsampler = upsampler
        self.window_size, self.stripe_size = window_size, tuple(stripe_size)
        self.down = anchor_window_down_factor
        self.size_multiple = max(window_size, *stripe_size)
        mean = _RGB_MEAN if in_channels == 3 else (0.0,) * in_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.norm_start = nn.LayerNorm(embed_dim)
        self.layers = nn.ModuleList()
        for depth, heads_w, heads_s in zip(depths, num_heads_window, num_heads_stripe, strict=True):
            cfg = {
                "dim": embed_dim, "heads_window": heads_w, "heads_stripe": heads_s,
                "window_size": window_size, "stripe_size": self.stripe_size, "stripe_shift": stripe_shift,
                "down": anchor_window_down_factor, "anchor_proj_type": anchor_proj_type,
                "mlp_ratio": mlp_ratio, "local_connection": local_connection,
            }  # fmt: skip
            self.layers.append(TransformerStage(cfg, depth, conv_type))
        self.norm_end = nn.LayerNorm(embed_dim)
        self.conv_after_body = last_conv(embed_dim, conv_type)
        self._build_upsampler(embed_dim, in_channels)

    def _build_upsampler(self, dim: int, out_channels: int) -> None:
        if self.upsampler == "pixelshuffledirect":
            self.upsample = nn.Module()
            self.upsample.up = nn.Sequential(
                nn.Conv2d(dim, out_channels * self.scale**2, 3, padding=1), nn.PixelShuffle(self.scale)
            )
            return
        self.conv_before_upsample = nn.Sequential(
            nn.Conv2d(dim, 64, 3, padding=1), nn.LeakyReLU(inplace=True)
        )
        if self.upsampler == "pixelshuffle":
            self.upsample = nn.Module()
            self.upsample.up = nn.Sequential(*upsample_layers(self.scale, 64))
        else:  # nearest+conv, x4 only
            self.conv_up1 = nn.Conv2d(64, 64, 3, padding=1)
            self.conv_up2 = nn.Conv2d(64, 64, 3, padding=1)
            self.conv_hr = nn.Conv2d(64, 64, 3, padding=1)
        self.conv_last = nn.Conv2d(64, out_channels, 3, padding=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        buffers = {
            k: v.to(x.device, x.dtype if v.is_floating_point() else v.dtype)
            for k, v in tables((h, w), self.window_size, self.stripe_size, self.down).items()
        }
        tokens = self.norm_start(x.flatten(2).transpose(1, 2))
        for layer in self.layers:
            tokens = layer(tokens, (h, w), buffers)
        return self.norm_end(tokens).transpose(1, 2).reshape(b, c, h, w)

    def _reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsampler == "pixelshuffledirect":
            return self.upsample.up(x)
        x = self.conv_before_upsample(x)
        if self.upsampler == "pixelshuffle":
            return self.conv_last(self.upsample.up(x))
        act = nn.functional.leaky_relu
        x = act(self.conv_up1(F.interpolate(x, scale_factor=2, mode="nearest")), 0.2)
        x = act(self.conv_up2(F.interpolate(x, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(act(self.conv_hr(x), 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.size_multiple, (-w) % self.size_multiple
        # the official reflect padding, zeros where the image is too small to reflect
        x = F.pad(x, (0, pw, 0, ph), "reflect" if ph < h and pw < w else "constant")
        x = self.conv_first(x - self.mean)
        x = self.conv_after_body(self.forward_features(x)) + x
        return (self._reconstruct(x) + self.mean)[..., : h * self.scale, : w * self.scale]


_BUFFER_NAMES = ("relative_coords_table", "relative_position_index", "attn_mask")


def network_keys(state_dict: dict) -> dict:
    """The network's own tensors: Lightning checkpoints prefix them ``model.`` (``model_g.``
    in the GAN ones, beside a discriminator's ``model_d.``)."""
    for prefix in ("model_g.", "model."):
        if f"{prefix}conv_first.weight" in state_dict:
            return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return state_dict


def _count(state_dict: dict, prefix: str, suffix: str) -> int:
    n = 0
    while f"{prefix}{n}{suffix}" in state_dict:
        n += 1
    return n


def _stages(state_dict: dict, dim: int) -> dict | None:
    depths, heads_w, heads_s = [], [], []
    for i in range(_count(state_dict, "layers.", ".blocks.0.norm1.weight")):
        depth = _count(state_dict, f"layers.{i}.blocks.", ".norm1.weight")
        window = shape_of(state_dict, f"layers.{i}.blocks.0.attn.window_attn.attn_transform.logit_scale", 3)
        stripe = shape_of(state_dict, f"layers.{i}.blocks.0.attn.stripe_attn.attn_transform1.logit_scale", 3)
        if window is None or stripe is None or (dim // 2) % window[0] or (dim // 2) % stripe[0]:
            return None
        depths.append(depth)
        heads_w.append(window[0])
        heads_s.append(stripe[0])
    if not depths:
        return None
    return {"depths": tuple(depths), "num_heads_window": tuple(heads_w), "num_heads_stripe": tuple(heads_s)}


def _block_kind(state_dict: dict, dim: int) -> dict | None:
    first = "layers.0.blocks.0."
    qkv = shape_of(state_dict, first + "attn.qkv.body.weight", 2)
    anchor = shape_of(state_dict, first + "attn.anchor.body.0.reduction.weight", 2)
    fc1 = shape_of(state_dict, first + "mlp.fc1.weight", 2)
    if qkv != (3 * dim, dim) or anchor != (dim // 2, dim) or fc1 is None or fc1[1] != dim:
        return None
    if first + "attn.anchor.body.0.reduction.bias" not in state_dict:
        return None  # patch-merging anchors: not in the released models
    if shape_of(state_dict, "layers.0.conv.weight", 4):
        conv_type = "1conv" if shape_of(state_dict, "layers.0.conv.weight", 4)[2] == 3 else "1conv1x1"
    elif shape_of(state_dict, "layers.0.conv.0.weight", 4):
        conv_type = "3conv"
    else:
        return None
    ratio = fc1[0] / dim
    return {
        "mlp_ratio": int(ratio) if ratio.is_integer() else ratio,
        "local_connection": first + "conv.cab.0.weight" in state_dict,
        "conv_type": conv_type,
    }


def _upsampler(state_dict: dict, in_channels: int) -> tuple[str, int] | None:
    before = shape_of(state_dict, "conv_before_upsample.0.weight", 4)
    if before is None:
        up = shape_of(state_dict, "upsample.up.0.weight", 4)
        square = up[0] // in_channels if up and up[0] % in_channels == 0 else 0
        scale = math.isqrt(square)
        return ("pixelshuffledirect", scale) if scale > 1 and scale * scale == square else None
    if before[0] != 64:
        return None
    if shape_of(state_dict, "conv_up1.weight", 4):
        return "nearest+conv", 4
    ratios = []
    while f"upsample.up.{2 * len(ratios)}.weight" in state_dict and len(ratios) < 4:
        shape = shape_of(state_dict, f"upsample.up.{2 * len(ratios)}.weight", 4)
        if shape is None or shape[1] != 64:
            return None
        ratios.append(shape[0] // 64)
    scale = {(9,): 3, (4,): 2, (4, 4): 4, (4, 4, 4): 8}.get(tuple(ratios))
    return ("pixelshuffle", scale) if scale else None


def _window_params(state_dict: dict, upsampler: str) -> dict:
    """Window size, stripe size and anchor down-factor: read from the coordinate tables and
    indices the released files store; without them, the released models' values (bicubic SR:
    32-pixel windows, 64 x 64 stripes, anchors down by 4; real-world GRL-B: 16, 32 x 64, 4)."""
    table_w, table_sh = state_dict.get("table_w"), state_dict.get("table_sh")
    index = state_dict.get("index_sh_a2w")
    if all(isinstance(t, torch.Tensor) and t.dim() == 4 for t in (table_w, table_sh)) and isinstance(
        index, torch.Tensor
    ):
        n2, n1 = (int(s) for s in index.shape[-2:]) if index.dim() == 2 else (0, 0)
        down = math.isqrt(n1 // n2) if n2 and n1 % n2 == 0 else 0
        if down and down * down * n2 == n1:
            stripe = [
                next((s for s in range(1, t + 2) if s + s // down - 1 == t), 0) for t in table_sh.shape[1:3]
            ]
            window = (int(table_w.shape[1]) + 1) // 2
            if all(stripe) and window > 1:
                return {
                    "window_size": window,
                    "stripe_size": tuple(stripe),
                    "anchor_window_down_factor": down,
                }
    if upsampler == "nearest+conv":
        return {"window_size": 16, "stripe_size": (32, 64), "anchor_window_down_factor": 4}
    return {"window_size": 32, "stripe_size": (64, 64), "anchor_window_down_factor": 4}


def detect(state_dict: dict) -> dict | None:
    """GRL's parameters from a (possibly ``model.``-prefixed) state dict."""
    if not isinstance(state_dict, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        return None
    state = network_keys(state_dict)
    first = shape_of(state, "conv_first.weight", 4)
    if first is None or shape_of(state, "norm_start.weight", 1) != first[:1]:
        return None
    if shape_of(state, "norm_end.weight", 1) != first[:1]:
        return None
    dim, in_channels = first[:2]
    stages, kind, up = _stages(state, dim), _block_kind(state, dim), _upsampler(state, in_channels)
    if stages is None or kind is None or up is None:
        return None
    return {
        "scale": up[1], "in_channels": in_channels, "embed_dim": dim, **stages,
        **_window_params(state, up[0]), "stripe_shift": True,  # every released config shifts stripes
        **kind, "upsampler": up[0],
    }  # fmt: skip


def convert(state_dict: dict) -> dict:
    """The network's tensors without the tables, indices and masks (recomputed here)."""
    return {
        k: v
        for k, v in network_keys(state_dict).items()
        if not k.startswith(("table_", "index_", "mask_")) and not any(b in k for b in _BUFFER_NAMES)
    }


SPECS = (
    ArchSpec(
        "grl",
        "Li et al. 2023, global, regional and local transformer (GRL-T/S/B)",
        GRL,
        detect=detect,
        detect_order=31,
        convert=convert,
        # windowed and stripe attention over the padded input: tiles are not the whole run
        tiles_equal_whole=False,
        # The shared GRL_24 was made in training mode (stochastic depth 0.1, block 8's
        # attention branch dropped); tests/archs/test_grl.py reproduces that to 1e-6.
        proof="vectors of the official code (tests/archs/data/grl) match exactly; GRL_24 (training mode) too",
    ),
)
