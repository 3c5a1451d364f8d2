"""Samples deeper than Pillow decodes them: 16-bit colour PNG, colour Netpbm past 8 bits,
and 10- or 12-bit HEIC and AVIF, all held as 16-bit samples."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from superres.errors import SuperresError


def png_is_16bit_color(path: Path) -> bool:
    """Whether a PNG holds 16-bit RGB, gray+alpha or RGBA (which Pillow reads as 8 bits)."""
    with open(path, "rb") as f:
        header = f.read(26)
    bit_depth, color_type = header[24], header[25]
    return bit_depth == 16 and color_type in (2, 4, 6)  # RGB, gray+alpha, RGBA


def png16_pixels(path: Path) -> np.ndarray:
    """A 16-bit colour PNG's samples, H x W x C."""
    import imagecodecs

    return imagecodecs.png_decode(path.read_bytes())


def ppm16_pixels(path: Path) -> np.ndarray | None:
    """A colour Netpbm file's samples when they have more than 8 bits (Pillow reads those as
    8-bit RGB), scaled to the full 16-bit range as Pillow scales a deep gray PGM; else None."""
    pattern = re.compile(rb"P6((?:\s+(?:#[^\n]*\n\s*)*\d+){3})\s")  # width, height, maxval
    with open(path, "rb") as f:
        head = f.read(4096)  # the header, unless its comments run longer
    header = pattern.match(head) or (pattern.match(path.read_bytes()) if len(head) == 4096 else None)
    if header is None:
        return None
    width, height, maxval = (int(v) for v in re.findall(rb"\d+", re.sub(rb"#[^\n]*", b"", header[1])))
    if not 255 < maxval < 65536:
        return None  # 8-bit: Pillow's decoding stands, and the file is not read again
    data = path.read_bytes()
    count = width * height * 3
    if len(data) < header.end() + 2 * count:
        raise SuperresError("truncated or corrupt image (fewer samples than its header says)", path)
    samples = np.frombuffer(data, ">u2", count, header.end())
    return _scaled_to_16_bits(samples, maxval).reshape(height, width, 3)


def deep_heif_or_avif_pixels(path: Path, im: Image.Image) -> np.ndarray | None:
    """A 10- or 12-bit HEIC / AVIF image's samples (a camera's HDR HEIF, say), scaled to the
    full 16-bit range; None for an 8-bit one. Pillow (and pillow-heif's plugin) give 8 bits."""
    if im.format == "HEIF":
        bits = int(im.info.get("bit_depth") or 8)
        if bits <= 8:
            return None
        import pillow_heif

        # pillow-heif shifts the samples to the top of 16 bits; they are scaled like the others
        shifted = np.asarray(pillow_heif.open_heif(path, convert_hdr_to_8bit=False))
        native = shifted >> (16 - bits)
    else:
        bits = _avif_bit_depth(path)
        if bits <= 8:
            return None
        import imagecodecs

        native = imagecodecs.avif_decode(path.read_bytes())
    return _scaled_to_16_bits(native, (1 << bits) - 1).reshape(*native.shape[:2], -1)


def _scaled_to_16_bits(native: np.ndarray, maximum: int) -> np.ndarray:
    """Samples of 0..``maximum`` scaled (rounded) to 0..65535, as Pillow scales a deep PGM."""
    return ((native.astype(np.uint32) * 65535 + maximum // 2) // maximum).astype(np.uint16)


def _avif_bit_depth(path: Path) -> int:
    """Bits per sample from an AVIF's ``pixi`` property (8 where it has none)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    at = head.find(b"pixi")
    if at < 0 or len(head) < at + 10 or head[at + 8] == 0:
        return 8
    return head[at + 9]  # the first channel's depth, after version, flags and the channel count
