"""ECBSR (Zhang et al., ACM MM 2021): re-parameterisable edge-oriented convolution blocks.

For training, every layer is an ECB: the sum of a 3x3 conv, a 1x1 -> 3x3 pair, and 1x1
convs followed by fixed Sobel-x, Sobel-y and Laplacian filters with learned per-channel
scales (plus the identity when shapes allow). Each branch is linear, so the sum folds
exactly into one 3x3 conv: ``fold()`` returns an :class:`SRVGGNetCompact` (plain 3x3
conv + PReLU stack, pixel shuffle, nearest-upsampled input added) that computes the same
function at the cost of a plain network. The 1x1 outputs are padded with their bias
rather than zeros, which keeps the fold exact at image borders.

Training folds too ("online re-parameterisation", as in OREPA, Hu et al., CVPR 2022): each
step sums the branches' kernels into one 3x3 kernel and runs that conv, so gradients reach
every branch's parameters exactly as in the multi-branch forward, at close to the plain
network's cost. ``forward_branches`` is the multi-branch computation, kept as the reference.
``unfold`` starts an ECBSR from the plain network it folds into.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.spec import ArchSpec
from superres.archs.srvgg_arch import SRVGGNetCompact

_EDGE_FILTERS = {
    "sobel_x": [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
    "sobel_y": [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]],
    "laplacian": [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
}


def _pad_with_bias(y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Pad by one pixel with each channel's bias (what a folded conv would see)."""
    b = bias.view(1, -1, 1, 1)
    return F.pad(y - b, (1, 1, 1, 1)) + b


class _ExpandSqueeze(nn.Module):
    """1x1 conv to ``mid`` channels, then a 3x3 conv to ``out``."""

    def __init__(self, in_ch: int, out_ch: int, mid: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, mid, 1)
        self.conv3 = nn.Conv2d(mid, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(_pad_with_bias(self.conv1(x), self.conv1.bias))

    def kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        k1, b1 = self.conv1.weight[:, :, 0, 0], self.conv1.bias  # mid x in
        k3, b3 = self.conv3.weight, self.conv3.bias  # out x mid x 3 x 3
        kernel = torch.einsum("omhw,mi->oihw", k3, k1)
        bias = b3 + torch.einsum("omhw,m->o", k3, b1)
        return kernel, bias


class _EdgeBranch(nn.Module):
    """1x1 conv, then a fixed edge filter per channel with a learned scale and bias."""

    def __init__(self, in_ch: int, out_ch: int, kind: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1)
        self.scale = nn.Parameter(torch.randn(out_ch, 1, 1, 1) * 1e-3)
        self.bias = nn.Parameter(torch.randn(out_ch) * 1e-3)
        self.register_buffer("mask", torch.tensor(_EDGE_FILTERS[kind]).expand(out_ch, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _pad_with_bias(self.conv1(x), self.conv1.bias)
        return F.conv2d(y, self.scale * self.mask, self.bias, groups=y.shape[1])

    def kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        k1, b1 = self.conv1.weight[:, :, 0, 0], self.conv1.bias  # out x in
        depthwise = (self.scale * self.mask)[:, 0]  # out x 3 x 3
        kernel = depthwise[:, None] * k1[:, :, None, None]
        bias = self.bias + depthwise.sum(dim=(1, 2)) * b1
        return kernel, bias


class ECB(nn.Module):
    """Edge-oriented convolution block: five linear branches summed (+ identity)."""

    def __init__(
        self, in_ch: int, out_ch: int, depth_multiplier: float = 2.0, with_identity: bool = True
    ) -> None:
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.with_identity = with_identity and in_ch == out_ch
        self.conv3 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.expand = _ExpandSqueeze(in_ch, out_ch, int(out_ch * depth_multiplier))
        self.edges = nn.ModuleList(_EdgeBranch(in_ch, out_ch, kind) for kind in _EDGE_FILTERS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):  # sum the branches in fp32
            kernel, bias = self.kernel_and_bias()
        return F.conv2d(x, kernel, bias, padding=1)

    def forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        """The multi-branch computation that ``forward`` folds (the reference for tests)."""
        y = self.conv3(x) + self.expand(x)
        for branch in self.edges:
            y = y + branch(x)
        return y + x if self.with_identity else y

    def kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single 3x3 conv (kernel, bias) this block computes, differentiable."""
        kernel, bias = self.conv3.weight, self.conv3.bias
        for part in (self.expand, *self.edges):
            k, b = part.kernel_and_bias()
            kernel = kernel + k
            bias = bias + b
        if self.with_identity:
            kernel = kernel + nn.init.dirac_(torch.empty_like(kernel))
        return kernel, bias

    @torch.no_grad()
    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.kernel_and_bias()


class ECBSR(nn.Module):
    """ECBSR-M{num_block}C{num_feat}: ECB + PReLU layers, an ECB to C*s^2, pixel shuffle,
    and the nearest-upsampled input added (as in SRVGGNetCompact)."""

    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        num_feat: int = 32,
        num_block: int = 8,
        depth_multiplier: float = 2.0,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.in_channels = self.out_channels = in_channels
        self.num_feat, self.num_block = num_feat, num_block
        blocks = [ECB(in_channels, num_feat, depth_multiplier, with_identity=False)]
        blocks += [ECB(num_feat, num_feat, depth_multiplier) for _ in range(num_block)]
        blocks.append(ECB(num_feat, in_channels * scale * scale, depth_multiplier, with_identity=False))
        self.blocks = nn.ModuleList(blocks)
        self.acts = nn.ModuleList(nn.PReLU(num_feat) for _ in range(num_block + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for block, act in zip(self.blocks[:-1], self.acts, strict=True):
            y = act(block(y))
        y = F.pixel_shuffle(self.blocks[-1](y), self.scale)
        return y + F.interpolate(x, scale_factor=self.scale, mode="nearest")

    @torch.no_grad()
    def fold(self) -> SRVGGNetCompact:
        """The equivalent plain network for inference (same outputs, up to float rounding)."""
        plain = SRVGGNetCompact(self.scale, self.in_channels, None, self.num_feat, self.num_block, "prelu")
        convs = [m for m in plain.body if isinstance(m, nn.Conv2d)]
        prelus = [m for m in plain.body if isinstance(m, nn.PReLU)]
        for conv, block in zip(convs, self.blocks, strict=True):
            kernel, bias = block.folded()
            conv.weight.copy_(kernel)
            conv.bias.copy_(bias)
        for target, source in zip(prelus, self.acts, strict=True):
            target.weight.copy_(source.weight)
        return plain.eval()

    def fold_params(self) -> dict:
        """Constructor parameters of the SRVGGNetCompact that :meth:`fold` returns."""
        return {"scale": self.scale, "in_channels": self.in_channels, "num_feat": self.num_feat,
                "num_conv": self.num_block, "act_type": "prelu"}  # fmt: skip


@torch.no_grad()
def unfold(plain: dict[str, torch.Tensor], network: ECBSR) -> dict[str, torch.Tensor]:
    """A state dict for ``network`` that computes exactly what the plain PReLU SRVGGNetCompact
    ``plain`` (its state dict) does: the extra branches keep their initialisation and each
    block's 3x3 branch takes the rest, so training starts from the plain network's output
    with every branch live. Raises ValueError when the two do not fit."""
    state = {k: v.clone() for k, v in network.state_dict().items()}
    conv_indices = sorted(int(k.split(".")[1]) for k, v in plain.items() if v.dim() == 4)
    layout = [tuple(plain[f"body.{i}.weight"].shape) for i in conv_indices]
    wanted = [(b.out_ch, b.in_ch, 3, 3) for b in network.blocks]
    has_prelus = all(f"body.{i + 1}.weight" in plain for i in conv_indices[:-1])
    if layout != wanted or not has_prelus:
        raise ValueError(
            f"the plain network ({len(layout) - 2} convs) does not fit the recipe's"
            f" ECBSR-M{network.num_block}C{network.num_feat} with PReLU"
        )
    for n, (i, block) in enumerate(zip(conv_indices, network.blocks, strict=True)):
        kernel, bias = block.folded()
        state[f"blocks.{n}.conv3.weight"] += plain[f"body.{i}.weight"] - kernel
        state[f"blocks.{n}.conv3.bias"] += plain[f"body.{i}.bias"] - bias
        if n < len(network.acts):
            state[f"acts.{n}.weight"] = plain[f"body.{i + 1}.weight"].clone()
    return state


SPECS = (
    ArchSpec(
        "ecbsr",
        "Zhang et al. 2021, re-parameterisable; folds into srvgg",
        ECBSR,
        folds_to="srvgg",
        unfold=unfold,
    ),
)
