"""The options of an upscale: how the network runs (``TileOptions``) and what is done around
it (``UpscaleOptions``). Importing this module does not import torch."""

from __future__ import annotations

from dataclasses import dataclass

from superres.errors import SuperresError
from superres.io import DEFAULT_MAX_PIXELS

DEFAULT_OVERLAP = 16
OUTPUT_LIMIT_FACTOR = 16  # the default max_output_pixels, times max_pixels: a x4 of any input under it
ALPHA_UPSAMPLERS = ("network", "bicubic")


@dataclass(frozen=True)
class TileOptions:
    tile: int | None = None  # LR pixels; None = choose from the memory budget; 0 = no tiling
    tile_overlap: int = DEFAULT_OVERLAP
    tta: bool = False  # x8 self-ensemble (flips and 90-degree rotations)
    memory_budget: int | None = None  # bytes; None = 1 GiB on CPU, half the free memory on GPU


def check_alpha_upsampler(name: str) -> None:
    if name not in ALPHA_UPSAMPLERS:
        raise SuperresError(f"alpha_upsampler must be one of {', '.join(ALPHA_UPSAMPLERS)}, got {name!r}")


@dataclass(frozen=True)
class UpscaleOptions:
    """What :func:`superres.api.upscale_image` and :func:`superres.api.upscale_file` do
    around the network.

    ``outscale``: resize the network's output to round(size * outscale) (MATLAB-style
    bicubic); ``alpha_upsampler``: alpha through the ``"network"`` or ``"bicubic"``
    (Real-ESRGAN's option: smoother edges, no halo, faster); ``keep_dpi``: keep the input's
    DPI (a larger print) instead of growing it with the pixels (the same print size);
    ``quality``: JPEG / WebP / AVIF / HEIC quality of a written file; ``max_pixels``: larger
    input files are refused; ``max_output_pixels``: an input file whose result would be larger
    is refused once read, before any upscaling (None: ``OUTPUT_LIMIT_FACTOR`` x
    ``max_pixels``); ``nodata``: the no-data value of an input that does not flag its own
    fill (GDAL's no-data tag), kept exactly and written as the result's no-data tag;
    ``clamp_range``: a raster's result (a georeferenced TIFF, or more than 4 colour bands)
    clamped per band to the input's range, so no overshoot past its largest value or
    undershoot (dark rings) below its smallest. An unknown ``alpha_upsampler`` is a
    SuperresError."""

    tiling: TileOptions = TileOptions()
    outscale: float | None = None
    alpha_upsampler: str = "network"
    keep_dpi: bool = False
    quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_output_pixels: int | None = None
    nodata: float | None = None
    clamp_range: bool = True

    @property
    def output_pixel_limit(self) -> int:
        return self.max_output_pixels or OUTPUT_LIMIT_FACTOR * self.max_pixels

    def __post_init__(self) -> None:
        check_alpha_upsampler(self.alpha_upsampler)
