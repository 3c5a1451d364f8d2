"""Samples to [0, 1] and back, no-data pixels, and the pages of an image with the value
mapping they share (the rules are in :mod:`superres.engine`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from superres.io import ImageData
from superres.io.geotiff import is_nodata

_FLOAT32_SAFE = 1e37  # sample magnitudes past this are mapped to [0, 1] in float64


def value_range(pixels: np.ndarray, missing: np.ndarray | None = None) -> tuple[float, float]:
    """(low, span) mapping H x W x C samples to [0, 1] by the engine's rules; pixels
    ``missing`` (H x W) do not count."""
    samples = pixels if missing is None else pixels[~missing]
    if pixels.dtype == np.uint8:
        return 0.0, 255.0
    if pixels.dtype == np.uint16:
        bits = max(8, int(samples.max()).bit_length() if samples.size else 16)
        return 0.0, float(2**bits - 1)
    finite = samples[np.isfinite(samples)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    span = high - low
    if not np.isfinite(span):
        raise ValueError(
            f"sample values from {low:.3g} to {high:.3g} span more than float64 holds; rescale the data first"
        )
    return low, span or 1.0


@dataclass(frozen=True)
class ValueMapping:
    """Samples map to (sample - low) / span."""

    low: float
    span: float


def fill_values(pixels: np.ndarray, missing: np.ndarray | None, mapping: ValueMapping) -> np.ndarray | None:
    """Per band, the mean of the pixels not ``missing`` (infinities clipped to the range):
    what no-data pixels are filled with for the network, found once per image so that every
    row band fills alike."""
    if missing is None:
        return None
    low, span = mapping.low, mapping.span
    valid = ~missing
    if not valid.any():
        return np.full(pixels.shape[2], low)
    means = [
        np.nan_to_num(pixels[:, :, band][valid].astype(np.float64), posinf=low + span, neginf=low).mean()
        for band in range(pixels.shape[2])
    ]
    return np.array(means)


def to_unit_range(
    pixels: np.ndarray,
    mapping: ValueMapping,
    missing: np.ndarray | None = None,
    fill: np.ndarray | None = None,
) -> tuple[torch.Tensor, Callable[[torch.Tensor], np.ndarray]]:
    """C x H x W float32 tensor, (samples - low) / span, and the function that maps a result
    back. Pixels ``missing`` (H x W) are filled with ``fill``, one value per band (from
    :func:`fill_values` over the whole page, so that every row band fills alike)."""
    dtype, low, span = pixels.dtype, mapping.low, mapping.span
    wide = max(abs(low), abs(low + span)) > _FLOAT32_SAFE  # past float32's range once subtracted
    samples = np.ascontiguousarray(pixels.transpose(2, 0, 1))
    data = torch.from_numpy(samples.astype(np.float64 if wide else np.float32))
    data = torch.nan_to_num(data, nan=low, posinf=low + span, neginf=low)
    if missing is not None:
        invalid = torch.from_numpy(missing)
        for band, value in zip(data, fill, strict=True):
            band[invalid] = float(value)

    def restore(result: torch.Tensor) -> np.ndarray:
        result = result.clamp_(0, 1)
        values = (result.double() if wide else result).mul_(span).add_(low).permute(1, 2, 0).numpy()
        if np.issubdtype(dtype, np.integer):  # rounded in place: no float copies of the output
            info = np.iinfo(dtype)
            np.clip(np.round(values, out=values), info.min, info.max, out=values)
        elif wide:  # low + span may round past the sample type's largest value
            info = np.finfo(dtype)
            np.clip(values, info.min, info.max, out=values)
        return values.astype(dtype)

    return ((data - low) / span).float(), restore


def check_pixels(pixels: np.ndarray) -> None:
    """Refuse (ValueError) pixels with no samples, or of a type that is not a number line:
    complex samples would lose their imaginary part, and no image holds them."""
    if pixels.size == 0:
        raise ValueError(f"the image is empty (shape {pixels.shape})")
    if pixels.dtype.kind not in "uifb":
        raise ValueError(f"{pixels.dtype} samples cannot be upscaled (integers, floats or booleans can)")


def band_bounds(pixels: np.ndarray, missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per band of H x W x C ``pixels``, the smallest and largest finite sample of the pixels
    not ``missing`` (float64; +inf and -inf for a band with none)."""
    samples = (pixels if missing is None else pixels[~missing]).reshape(-1, pixels.shape[2])
    lows, highs = np.full(pixels.shape[2], np.inf), np.full(pixels.shape[2], -np.inf)
    for band in range(pixels.shape[2]):
        values = samples[:, band]
        values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if values.size:
            lows[band], highs[band] = float(values.min()), float(values.max())
    return lows, highs


def clamp_bands(rows: np.ndarray, bounds: tuple[np.ndarray, np.ndarray]) -> None:
    """Clip each of the first len(bounds[0]) bands of H x W x C ``rows`` to its (low, high), in
    place (NaN stays NaN; a band with no bounds, +inf..-inf, is left alone)."""
    for band, (low, high) in enumerate(zip(*bounds, strict=True)):
        if low <= high:
            kind = rows.dtype.type  # the bounds are samples of this type, so exact in it
            np.clip(rows[:, :, band], kind(low), kind(high), out=rows[:, :, band])


def is_raster(image: ImageData) -> bool:
    """Whether ``image`` holds measurements rather than a picture (a georeferenced TIFF, or
    more than 4 colour bands a page), whose results are clamped to the input's range."""
    return image.geo is not None or image.color_channels > 4


@dataclass(frozen=True)
class Page:
    """One page of an image to upscale: its pixels, its no-data mask (H x W, or None) and the
    value mapping of its colour bands (shared by every page of a stack)."""

    image: ImageData
    missing: np.ndarray | None
    mapping: ValueMapping


def stack_pages(image: ImageData) -> list[Page]:
    """The pages of ``image`` (one unless it is a stack), with the one colour value mapping
    they share; alpha maps on its own."""
    pages = [image.page(i) for i in range(image.stack.pages)] if image.stack else [image]
    missing = [is_nodata(page.pixels, page.nodata) for page in pages]
    marked = [mask for mask in missing if mask is not None]
    anywhere = np.logical_or.reduce(marked) if marked else None
    by_page = image.pixels.reshape(*image.pixels.shape[:2], len(pages), image.page_bands)
    mapping = ValueMapping(*value_range(by_page[..., : image.color_channels], anywhere))
    return [Page(page, mask, mapping) for page, mask in zip(pages, missing, strict=True)]
