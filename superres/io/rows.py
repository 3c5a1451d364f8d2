"""Streaming writers: a PNG or single-page TIFF whose pixels arrive as bands of rows, top to
bottom, written as they come, so a result larger than memory is never held whole."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from superres.atomic import atomic_output
from superres.errors import SuperresError
from superres.io.cog import pyramid_stage
from superres.io.formats import adapt_for_format, check_format_holds, output_format, without_png_text
from superres.io.image import ImageData
from superres.io.limits import warn_if_over_read_limit
from superres.io.metadata import png_chunk, png_metadata_chunks
from superres.io.write_tiff import tiff_through_pillow, tifffile_options, warn_if_exif_dropped

TIFF_TILE = 256  # tile side of TIFFs written from row bands (write_tiff_rows)


def writes_in_row_bands(path: str | Path, image: ImageData) -> bool:
    """Whether :func:`write_rows` writes ``image`` to ``path`` as :func:`write_image` would:
    a single-page TIFF, not one whose EXIF only Pillow carries; a PNG the format can hold."""
    fmt = output_format(path)
    if fmt == "TIFF":
        return image.stack is None and not tiff_through_pillow(image)
    if fmt == "PNG" and image.stack is None:
        try:
            check_format_holds(path, image)
        except SuperresError:
            return False
        return True
    return False


def write_rows(path: str | Path, image: ImageData, row_bands: Iterable[np.ndarray]) -> Path:
    """``image`` with its pixels from ``row_bands`` (see :func:`writes_in_row_bands`)."""
    writer = write_png_rows if output_format(path) == "PNG" else write_tiff_rows
    return writer(path, image, row_bands)


def write_png_rows(path: str | Path, image: ImageData, row_bands: Iterable[np.ndarray]) -> Path:
    """A PNG whose pixels arrive as consecutive bands of rows, top to bottom, of any heights:
    each row filtered as libpng would (the filter whose bytes sum to the least magnitude),
    deflated and written atomically as the bands come, so only a band is held, never the
    whole image. ``image`` gives the shape, sample type and metadata (as :func:`write_image`
    would write them); its pixels are not read."""
    path = Path(path)
    image = adapt_for_format(image, "PNG", path)
    height, width, channels = image.pixels.shape
    warn_if_over_read_limit(path, width, height)
    depth = 16 if image.pixels.dtype == np.uint16 else 8
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]  # gray, gray+alpha, RGB, RGBA
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    compressor = zlib.compressobj(6)
    previous = np.zeros(width * channels * depth // 8, np.uint8)  # the row above the first
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_metadata_chunks(image))
        for band in _counted_rows(row_bands, height):
            for top in range(0, len(band), 64):  # the filter candidates of 64 rows at a time
                raw = np.ascontiguousarray(band[top : top + 64].astype(f">u{depth // 8}"))
                raw = raw.view(np.uint8).reshape(len(raw), -1)
                data = compressor.compress(_png_filtered(raw, previous, channels * depth // 8))
                previous = raw[-1]
                if data:
                    f.write(png_chunk(b"IDAT", data))
        f.write(png_chunk(b"IDAT", compressor.flush()) + png_chunk(b"IEND", b""))
    return path


def _png_filtered(raw: np.ndarray, previous: np.ndarray, bpp: int) -> bytes:
    """Scanlines of ``raw`` (rows x bytes) each with its filter-type byte, the filter chosen
    per row by libpng's heuristic: the least sum of the filtered bytes read as signed."""
    x = raw.astype(np.int16)
    up = np.concatenate([previous[None].astype(np.int16), x[:-1]])
    left, upleft = np.zeros_like(x), np.zeros_like(x)
    left[:, bpp:], upleft[:, bpp:] = x[:, :-bpp], up[:, :-bpp]
    guess = left + up - upleft
    near_left, near_up, near_upleft = np.abs(guess - left), np.abs(guess - up), np.abs(guess - upleft)
    left_nearest = (near_left <= near_up) & (near_left <= near_upleft)
    paeth = np.where(left_nearest, left, np.where(near_up <= near_upleft, up, upleft))
    candidates = np.stack([x, x - left, x - up, x - (left + up) // 2, x - paeth]).astype(np.uint8)
    magnitude = np.minimum(candidates, 256 - candidates.astype(np.int16)).sum(axis=2, dtype=np.int64)
    choice = magnitude.argmin(axis=0)  # None, Sub, Up, Average, Paeth
    rows = candidates[choice, np.arange(len(raw))]
    return np.concatenate([choice.astype(np.uint8)[:, None], rows], axis=1).tobytes()


def write_tiff_rows(path: str | Path, image: ImageData, row_bands: Iterable[np.ndarray]) -> Path:
    """A single-page TIFF whose pixels arrive as consecutive bands of rows, top to bottom,
    of any heights: written atomically as deflate-compressed ``TIFF_TILE``-pixel tiles, so
    only a band and one row of tiles are held, never the whole image. ``image`` gives the
    shape, sample type and metadata; its pixels are not read (``np.broadcast_to`` of one
    sample will do)."""
    import tifffile

    path = Path(path)
    height, width, channels = image.pixels.shape
    warn_if_exif_dropped(path, image)
    warn_if_over_read_limit(path, width, height)
    image = without_png_text(image, "TIFF", path)

    counted = _counted_rows(row_bands, height)

    def tiles() -> Iterator[np.ndarray]:
        for rows in _regrouped_rows(counted, TIFF_TILE):
            for left in range(0, width, TIFF_TILE):
                tile = rows[:, left : left + TIFF_TILE]
                yield tile if channels > 1 else tile[:, :, 0]

    with atomic_output(path) as tmp, pyramid_stage(tmp, image.pyramid) as target:
        options = tifffile_options(image)
        shape = (height, width, channels) if channels > 1 else (height, width)
        tifffile.imwrite(
            target, tiles(), shape=shape, dtype=image.pixels.dtype, tile=(TIFF_TILE, TIFF_TILE), **options
        )
        for _ in counted:  # tifffile stops at the last tile: bands past the image fail here
            pass
    return path


def _counted_rows(row_bands: Iterable[np.ndarray], height: int) -> Iterator[np.ndarray]:
    """The bands as they come, then ValueError if they held more or fewer than ``height`` rows
    (a writer fed the wrong bands fails, and its atomic output leaves no file)."""
    done = 0
    for rows in row_bands:
        done += len(rows)
        if done > height:
            break
        yield rows
    if done != height:
        raise ValueError(f"row bands held {done} rows, the image {height}")


def _regrouped_rows(row_bands: Iterable[np.ndarray], rows_each: int) -> Iterator[np.ndarray]:
    """Bands of rows of any heights regrouped into bands of exactly ``rows_each`` rows (the
    last may be shorter); only rows left over from one band are copied, into the next group."""
    carry = None  # fewer than rows_each rows, waiting for the next band
    for rows in row_bands:
        if carry is not None:
            needed = rows_each - len(carry)
            carry, rows = np.concatenate([carry, rows[:needed]]), rows[needed:]
            if len(carry) < rows_each:
                continue
            yield carry
            carry = None
        whole = len(rows) - len(rows) % rows_each
        for top in range(0, whole, rows_each):
            yield rows[top : top + rows_each]
        if whole < len(rows):
            carry = rows[whole:].copy()  # a copy, so the band itself can be freed
    if carry is not None:
        yield carry
