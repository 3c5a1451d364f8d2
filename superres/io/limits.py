"""Pixel-count limits: superres's own decompression-bomb check, made from a file's header
before decoding, and Pillow's fixed limit, lifted while Pillow reads a header."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

from PIL import Image

from superres.errors import SuperresError

DEFAULT_MAX_PIXELS = 2 * 89_478_485  # Pillow's own hard limit (about 179 megapixels)
_PILLOW_LIMIT_LOCK = threading.Lock()  # guards Pillow's process-wide pixel limit (open_with_pillow)


def check_size(width: int, height: int, max_pixels: int, path: Path, pages: int = 1) -> None:
    """Refuse (SuperresError) an image of more than ``max_pixels`` pixels, pages together."""
    if width * height * pages > max_pixels:
        size = f"{width}x{height}" + (f" x {pages} pages" if pages > 1 else "")
        raise SuperresError(
            f"image is {size} = {width * height * pages:,} pixels, over the limit of {max_pixels:,} "
            "(possible decompression bomb; raise the limit with --max-pixels if you trust the file)",
            path,
        )


def warn_if_over_read_limit(path: Path, width: int, height: int, pages: int = 1) -> None:
    """Say when a file being written is over the pixel count that superres (its default
    ``--max-pixels``) and Pillow (for one page) refuse to read back by default."""
    total = width * height * pages
    if total <= DEFAULT_MAX_PIXELS:
        return
    size = f"{width}x{height}" + (f" x {pages} pages" if pages > 1 else "")
    readers = "superres (without a larger --max-pixels)"
    readers += " and Pillow" if width * height > DEFAULT_MAX_PIXELS else ""
    warnings.warn(
        f"{path}: the result is {size} = {total:,} pixels, over the {DEFAULT_MAX_PIXELS:,} that {readers}"
        " will read by default",
        stacklevel=3,
    )


def open_with_pillow(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's own decompression-bomb limit (and its warning past
    89 megapixels): read_image checks ``max_pixels`` itself from the header, before decoding,
    and Pillow's fixed limit would make raising ``--max-pixels`` useless for PNG, JPEG and WebP.
    Pillow keeps that limit process-wide (``Image.MAX_IMAGE_PIXELS``), so it is lifted only
    while the header is read, under a lock, and put back."""
    with _PILLOW_LIMIT_LOCK:
        limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = limit
