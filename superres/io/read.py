"""Reading an image file: the reader chosen by the file's first bytes (TIFF, JPEG 2000, else
Pillow, HEIC through pillow-heif), every failure a one-line SuperresError."""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from superres.errors import SuperresError
from superres.io.dicom import is_dicom, read_dicom
from superres.io.formats import IMAGE_SUFFIXES, format_suffix, register_heif
from superres.io.image import ImageData
from superres.io.limits import DEFAULT_MAX_PIXELS, check_size, open_with_pillow
from superres.io.read_pillow import read_pillow
from superres.io.read_tiff import read_tiff

_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_JP2_MAGIC = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_J2K_MAGIC = b"\xff\x4f\xff\x51"
# What the decoders raise on a truncated or corrupt file (RuntimeError: imagecodecs' errors).
_DECODE_ERRORS = (
    *(OSError, ValueError, SyntaxError, struct.error, zlib.error, IndexError, KeyError, RuntimeError),
)
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})  # HEIC's codec
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_file(p))


def is_image_file(path: str | Path, *, opener: Callable[..., IO[bytes]] = open) -> bool:
    """Whether a folder scan takes ``path`` as an image: a suffix superres reads, or DICOM's
    preamble and DICM mark under any name (scanners write ``IM0001`` or UID-like names);
    ``opener`` as for :func:`has_dicom_mark`."""
    return format_suffix(path) in IMAGE_SUFFIXES or has_dicom_mark(path, opener=opener)


def has_dicom_mark(path: str | Path, *, opener: Callable[..., IO[bytes]] = open) -> bool:
    """Whether ``path`` starts with DICOM's 128-byte preamble and DICM mark; ``opener``
    opens it (another file system's ``open``, for a path there)."""
    try:
        with opener(path, "rb") as f:
            return f.read(132)[128:] == b"DICM"
    except OSError:
        return False


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Decode an image file; raises SuperresError with a one-line reason on any problem."""
    path = Path(path)
    if not path.is_file():
        raise SuperresError("no such file", path)
    if path.stat().st_size == 0:
        raise SuperresError("empty file (0 bytes)", path)
    with open(path, "rb") as f:
        magic = f.read(132)  # DICOM's mark follows a 128-byte preamble
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = _decoded(path, magic, max_pixels)
    for said in caught:  # the decoders' own warnings, named like superres' ("PATH: ...")
        _warn_naming(said, path)
    pixels = image.pixels
    if pixels.dtype.kind == "f" and np.isinf(pixels).any():
        warnings.warn(
            f"{path}: holds infinite samples (+-Inf); they are upscaled as its largest and smallest"
            " finite values",
            stacklevel=2,
        )
    return image


def _warn_naming(said: warnings.WarningMessage, path: Path) -> None:
    """Emit a warning caught while ``path`` was decoded, its text starting with the path."""
    text = str(said.message)
    if not issubclass(said.category, (UserWarning, RuntimeWarning)):
        warnings.warn_explicit(said.message, said.category, said.filename, said.lineno)
        return
    if not text.startswith(f"{path}: "):
        text = f"{path}: {' '.join(text.split())}"
    warnings.warn(text, said.category, stacklevel=3)


def _decoded(path: Path, magic: bytes, max_pixels: int) -> ImageData:
    """The image of ``path`` (first bytes ``magic``) from the reader its format needs."""
    try:
        if is_dicom(path, magic):
            return read_dicom(path, max_pixels)
        if format_suffix(path) in (".nii", ".nii.gz"):
            from superres.io.nifti import read_nifti

            return read_nifti(path, max_pixels)
        if magic[:4] in _TIFF_MAGICS:
            return read_tiff(path, max_pixels)
        if magic[:12] == _JP2_MAGIC or magic[:4] == _J2K_MAGIC:
            return _read_jpeg2000(path, max_pixels)
        if _is_heic(magic):
            register_heif(path)
        return read_pillow(path, max_pixels)
    except SuperresError:
        raise
    except Image.DecompressionBombError as exc:
        raise SuperresError(f"image is too large, possible decompression bomb ({exc})", path) from None
    except UnidentifiedImageError:
        if magic[4:8] == b"ftyp":  # a HEIF / AVIF container that its decoder could not open
            raise SuperresError("truncated or corrupt HEIF/AVIF image", path) from None
        raise SuperresError("not an image file, or a format superres does not read", path) from None
    except _DECODE_ERRORS as exc:
        raise SuperresError(f"truncated or corrupt image ({str(exc).splitlines()[0][:160]})", path) from None


def _is_heic(header: bytes) -> bool:
    """Whether a file's first bytes are an ISO-BMFF ``ftyp`` box naming HEVC-coded HEIF
    (major or compatible brands), not AVIF, which shares the container (and ``mif1``)."""
    if header[4:8] != b"ftyp":
        return False
    size = int.from_bytes(header[:4], "big")
    brands = {header[8:12]} | {header[i : i + 4] for i in range(16, min(size, len(header)) - 3, 4)}
    return bool(brands & _HEVC_BRANDS) and not brands & _AVIF_BRANDS


def _read_jpeg2000(path: Path, max_pixels: int) -> ImageData:
    """JPEG 2000 at its full bit depth (Pillow reduces 12- and 16-bit colour to 8 bits); two
    or four components are gray or RGB with alpha. Its metadata boxes are not read."""
    import imagecodecs

    data = path.read_bytes()
    with open_with_pillow(path) as im:  # the header, for the size check before decoding
        check_size(im.width, im.height, max_pixels, path)
    if _jp2_has_metadata_boxes(data):
        warnings.warn(
            f"{path}: its JPEG 2000 metadata boxes (XML, UUID: e.g. GeoJP2 or GML georeferencing)"
            " are not carried over",
            stacklevel=3,
        )
    try:
        pixels = imagecodecs.jpeg2k_decode(data)
    except imagecodecs.Jpeg2kError as exc:
        raise SuperresError(f"truncated or corrupt image ({exc})", path) from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype not in (np.uint8, np.uint16):
        raise SuperresError(f"JPEG 2000 with {pixels.dtype} samples is not supported", path)
    return ImageData(np.ascontiguousarray(pixels), pixels.shape[2] in (2, 4), source_format="JPEG2000")


def _jp2_has_metadata_boxes(data: bytes) -> bool:
    """Whether a JP2 file's top-level boxes include XML, UUID or association boxes."""
    offset = 0
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind in (b"xml ", b"uuid", b"asoc"):
            return True
        if length == 1 and offset + 16 <= len(data):
            length = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        if length == 0 or kind == b"jp2c":  # the codestream: the last box that matters
            return False
        offset += length
    return False
