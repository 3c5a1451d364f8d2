"""Real-CUGAN (bilibili ailab, the UpCunet2x / UpCunet3x / UpCunet4x networks of
``upcunet_v3``), key-compatible with the released ``up{2,3,4}x-*.pth`` and ``pro-*`` files.

Two cascaded U-Nets of unpadded ("valid") 3x3 convs: UNet1 upsamples with a transposed conv,
UNet2 refines its output; their sum (UNet1's output cropped by 20 pixels a side) is the image.
The valid convs eat a fixed border, so ``forward`` first reflect-pads the input by a fixed
amount (18 / 14 / 19 pixels at x2 / x3 / x4) plus up to a multiple of 2 (x3: 4) and crops
the result. Squeeze-excitation blocks pool over the whole feature map. ``pro`` files (a
``pro`` key) expect the image mapped to 0.15 + 0.7 x and give their result in that range.
UpCunet2x_fast (official VapourSynth code; the community "sudo_shuffle_cugan" weights)
loads too (``fast``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from superres.archs.detect import conv_shape, is_state_dict
from superres.archs.misc_common import fits
from superres.archs.spec import ArchSpec

_SLOPE = 0.1
# scale: (reflect border, size multiple) of the official forward
_PADDING = {2: (18, 2), 3: (14, 4), 4: (19, 2)}


class SEBlock(nn.Module):
    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.float().mean(dim=(2, 3), keepdim=True).to(x.dtype)
        return x * torch.sigmoid(self.conv2(F.relu(self.conv1(pooled))))


class UNetConv(nn.Module):
    """Two valid 3x3 convs with LeakyReLU(0.1), optionally squeeze-excited."""

    def __init__(self, channels: tuple[int, int, int], se: bool) -> None:
        super().__init__()
        c_in, c_mid, c_out = channels
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_mid, 3),
            nn.LeakyReLU(_SLOPE),
            nn.Conv2d(c_mid, c_out, 3),
            nn.LeakyReLU(_SLOPE),
        )
        self.seblock = SEBlock(c_out) if se else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x if self.seblock is None else self.seblock(x)


def _crop(x: torch.Tensor, border: int) -> torch.Tensor:
    return x[..., border:-border, border:-border]


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _SLOPE)


class UNet1(nn.Module):
    """One down/up level; the bottom is a transposed conv (x2: kernel 4, stride 2, padding 3;
    x3: kernel 5, stride 3, padding 2)."""

    def __init__(self, in_channels: int, out_channels: int, up: int, width: int = 64) -> None:
        super().__init__()
        self.conv1 = UNetConv((in_channels, width // 2, width), se=False)
        self.conv1_down = nn.Conv2d(width, width, 2, stride=2)
        self.conv2 = UNetConv((width, 2 * width, width), se=True)
        self.conv2_up = nn.ConvTranspose2d(width, width, 2, stride=2)
        self.conv3 = nn.Conv2d(width, width, 3)
        if up == 3:
            self.conv_bottom = nn.ConvTranspose2d(width, out_channels, 5, stride=3, padding=2)
        else:
            self.conv_bottom = nn.ConvTranspose2d(width, out_channels, 4, stride=2, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = self.conv2_up(self.conv2(_lrelu(self.conv1_down(x1))))
        x3 = _lrelu(self.conv3(_crop(x1, 4) + _lrelu(x2)))
        return self.conv_bottom(x3)


class UNet2(nn.Module):
    """Two down/up levels; the bottom is a valid 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64) -> None:
        super().__init__()
        w = width
        self.conv1 = UNetConv((in_channels, w // 2, w), se=False)
        self.conv1_down = nn.Conv2d(w, w, 2, stride=2)
        self.conv2 = UNetConv((w, w, 2 * w), se=True)
        self.conv2_down = nn.Conv2d(2 * w, 2 * w, 2, stride=2)
        self.conv3 = UNetConv((2 * w, 4 * w, 2 * w), se=True)
        self.conv3_up = nn.ConvTranspose2d(2 * w, 2 * w, 2, stride=2)
        self.conv4 = UNetConv((2 * w, w, w), se=True)
        self.conv4_up = nn.ConvTranspose2d(w, w, 2, stride=2)
        self.conv5 = nn.Conv2d(w, w, 3)
        self.conv_bottom = nn.Conv2d(w, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = self.conv2(_lrelu(self.conv1_down(x1)))
        x3 = _lrelu(self.conv3_up(self.conv3(_lrelu(self.conv2_down(x2)))))
        x4 = _lrelu(self.conv4_up(self.conv4(_crop(x2, 4) + x3)))
        x5 = _lrelu(self.conv5(_crop(x1, 16) + x4))
        return self.conv_bottom(x5)


class RealCUGAN(nn.Module):
    """``fast``: the community "shuffle" UpCunet2x_fast (pixel-unshuffled input, 64-channel
    U-Nets ending like x4 in a conv and a 2x pixel shuffle, plus the nearest-upscaled input).
    ``num_feat``: the U-Nets' base width (64 in every released file; its half, double and
    quadruple are the other widths), smaller only in the test vectors."""

    supported_scales = (2, 3, 4)

    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 3,
        out_channels: int = 3,
        *,
        pro: bool = False,
        fast: bool = False,
        num_feat: int = 64,
    ) -> None:
        super().__init__()
        if scale not in _PADDING or (fast and (scale != 2 or pro)):
            raise ValueError(
                f"Real-CUGAN: no x{scale}{' fast' if fast else ''}{' pro' if pro else ''} network"
            )
        self.scale, self.in_channels, self.out_channels = scale, in_channels, out_channels
        # fast: reflect 38, and a multiple of 4 (the official multiple of 2 fails at 2 mod 4)
        self.border, self.size_multiple = (38, 4) if fast else _PADDING[scale]
        if pro:  # the released pro files carry this marker; its value is never used
            self.register_buffer("pro", torch.zeros(1))
        self.is_pro, self.fast = pro, fast
        w = num_feat
        if scale == 4 or fast:  # the U-Nets work on num_feat channels; a 2x pixel shuffle ends it
            self.unet1 = UNet1(in_channels * (4 if fast else 1), w, 2, w)
            self.unet2 = UNet2(w, w, w)
            self.conv_final = nn.Conv2d(w, 4 * out_channels, 3)
        else:
            self.unet1 = UNet1(in_channels, out_channels, scale, w)
            self.unet2 = UNet2(in_channels, out_channels, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.is_pro:
            x = x * 0.7 + 0.15
        source = x
        x = _pad_input(x, self.border, self.size_multiple)
        if self.fast:
            x = F.pixel_unshuffle(x, 2)
        x = self.unet1(x)
        x = self.unet2(x) + _crop(x, 20)
        if hasattr(self, "conv_final"):
            x = F.pixel_shuffle(_crop(self.conv_final(x), 1), 2)
        x = x[..., : h * self.scale, : w * self.scale]
        if hasattr(self, "conv_final"):
            x = x + F.interpolate(source, scale_factor=self.scale, mode="nearest")
        if self.is_pro:
            x = (x - 0.15) / 0.7
        return x


def _pad_input(x: torch.Tensor, border: int, multiple: int) -> torch.Tensor:
    """The official padding: reflect by ``border`` on every side, and further at the bottom and
    right up to a multiple of ``multiple``. An image too small to reflect that far (under
    about ``border`` + 2 pixels, where the official code fails) is first extended at the
    bottom and right by repeating its edge."""
    h, w = x.shape[-2:]
    extra_h, extra_w = -h % multiple, -w % multiple
    grow_h = max(0, border + extra_h + 1 - h)
    grow_w = max(0, border + extra_w + 1 - w)
    if grow_h or grow_w:
        x = F.pad(x, (0, grow_w, 0, grow_h), mode="replicate")
        h, w = x.shape[-2:]
        extra_h, extra_w = -h % multiple, -w % multiple
        x = F.pad(x, (0, extra_w, 0, extra_h), mode="replicate")
        extra_h = extra_w = 0
    return F.pad(x, (border, border + extra_w, border, border + extra_h), mode="reflect")


def _scale_and_channels(state_dict: dict) -> tuple[int, int, int] | None:
    first = conv_shape(state_dict, "unet1.conv1.conv.0.weight")
    bottom1 = conv_shape(state_dict, "unet1.conv_bottom.weight")  # transposed: (in, out, k, k)
    bottom2 = conv_shape(state_dict, "unet2.conv_bottom.weight")
    if first is None or bottom1 is None or bottom2 is None:
        return None
    if "conv_final.weight" in state_dict:
        final = conv_shape(state_dict, "conv_final.weight")
        if final is None or final[0] % 4:
            return None
        # The fast 2x takes the pixel-unshuffled image: its UNet1 input has 4 x the output
        # channels (a x4 network with 4 input channels and 1 output would read the same; no
        # such file is known).
        if first[1] == final[0]:
            return 2, first[1] // 4, final[0] // 4
        # The nearest-upscaled input is added to the output: its channels must broadcast.
        if first[1] not in (1, final[0] // 4):
            return None
        return 4, first[1], final[0] // 4
    # UNet2 takes UNet1's output with the input's channel count: only in == out can run.
    if first[1] != bottom2[0]:
        return None
    return (3 if bottom1[2] == 5 else 2), first[1], bottom2[0]


def detect(state_dict: dict[str, torch.Tensor]) -> dict | None:
    """``unet1`` / ``unet2`` of ``UNetConv`` blocks (``conv.0``, ``conv.2``, ``seblock``):
    x2 and x3 differ in UNet1's transposed bottom conv (kernel 4 / 5); x4 adds
    ``conv_final``; a ``pro`` key marks the pro models."""
    if not is_state_dict(state_dict) or "unet2.conv3.seblock.conv1.weight" not in state_dict:
        return None
    found = _scale_and_channels(state_dict)
    if found is None:
        return None
    scale, in_channels, out_channels = found
    params = {
        "scale": scale,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "pro": "pro" in state_dict,
        "fast": scale == 2 and "conv_final.weight" in state_dict,
        "num_feat": 2 * conv_shape(state_dict, "unet1.conv1.conv.0.weight")[0],
    }
    return params if fits(RealCUGAN, params, state_dict, _is_marker) else None


def _is_marker(key: str) -> bool:
    return key == "pro"


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``pro`` marker's value is never used (the official code only asks whether the key
    is there): whatever tensor a file holds, it becomes the network's one-element buffer."""
    if "pro" not in state_dict:
        return state_dict
    return {**state_dict, "pro": torch.zeros(1)}


SPECS = (
    ArchSpec(
        "realcugan",
        "bilibili Real-CUGAN, cascaded U-Nets (anime)",
        RealCUGAN,
        detect=detect,
        detect_order=73,
        convert=convert,
        # Squeeze-excitation pools over the whole image; the forward pads internally.
        tiles_equal_whole=False,
        proof="vector RealCUGAN_00 (x2); x3/x4/pro/fast: tests/archs/data/realcugan vectors of bilibili code",
    ),
)
