"""Image files in and out, keeping what a photographer or a remote-sensing user cares about:
bit depth, grayscale, alpha, EXIF orientation, the ICC profile and EXIF data.

Pixels are held as an H x W x C numpy array: uint8 and uint16 as they are, any other
sample type (float, int16, ...) as found in the file. Pillow reads and writes the common
formats; tifffile handles TIFF (16-bit, float, multi-band, multi-page); imagecodecs handles
16-bit RGB(A) PNG and JPEG 2000, which Pillow cannot represent; 16-bit colour PPM, which
Pillow reduces to 8 bits, is read and written here (a header and big-endian samples).

A multi-page TIFF (a stack of slices, frames, channels or plain pages, ImageJ hyperstacks
included) is one ImageData whose pages follow each other along the band axis; ``stack``
records how to fold them back, so every page is upscaled and written back with its axes.
An animated GIF, WebP or PNG is held the same way: its frames (composited, as shown) are
the pages of a stack with a T axis, and ``animation`` keeps their timing.
"""

from __future__ import annotations

import functools
import io
import math
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError, features

from superres.atomic import atomic_output
from superres.errors import SuperresError
from superres.geotiff import GeoTags, read_geo_tags
from superres.ome import image_count

DEFAULT_MAX_PIXELS = 2 * 89_478_485  # Pillow's own hard limit (about 179 megapixels)
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".avif": "AVIF",
    ".jp2": "JPEG2000",  # JPEG 2000 in its JP2 file format (satellite, medical)
    ".j2k": "JPEG2000",  # a bare JPEG 2000 codestream
    ".heic": "HEIF",  # phone photos, with the optional pillow-heif
    ".heif": "HEIF",
    ".tga": "TGA",  # Targa: game textures, often with alpha
    ".ppm": "PPM",  # Netpbm: colour (P6), 8 or 16 bits
    ".pgm": "PPM",  # Netpbm: gray (P5), 8 or 16 bits
    ".pnm": "PPM",  # Netpbm: either, by the image
}
IMAGE_SUFFIXES = frozenset(FORMATS)  # what superres reads and writes
MAX_SIDE = {"WEBP": 16383, "JPEG": 65500, "GIF": 65535}  # the encoders' largest width or height
DEEP_FORMATS = ("PNG", "TIFF", "JPEG2000", "PPM", "HEIF")  # formats that hold more than 8 bits
HEIF_BITS = 10  # what HEIC output holds of a deeper result (pillow-heif's default, HDR cameras')
ALPHA_FORMATS = ("PNG", "TIFF", "JPEG2000", "WEBP", "AVIF", "HEIF", "TGA", "GIF", "BMP")
# The metadata each format carries as superres writes it (TIFF: see _warn_if_exif_dropped).
_CARRIED_METADATA = {
    "PNG": {"EXIF", "XMP", "ICC profile", "DPI"},
    "JPEG": {"EXIF", "XMP", "ICC profile", "DPI"},
    "TIFF": {"EXIF", "XMP", "ICC profile", "DPI"},
    "WEBP": {"EXIF", "XMP", "ICC profile"},
    "AVIF": {"EXIF", "XMP", "ICC profile"},
    "HEIF": {"EXIF", "XMP", "ICC profile"},
    "GIF": set(),
    "BMP": {"DPI"},
    "JPEG2000": set(),
    "TGA": set(),
    "PPM": set(),
}
_SCREEN_FORMATS = ("GIF", "WEBP", "AVIF", "HEIF")  # a DPI means nothing there: its loss is not told
_SHOWN_NAMES = {"WEBP": "WebP", "JPEG2000": "JPEG 2000", "PPM": "Netpbm (PPM/PGM)"}  # else the key
ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")  # animations superres reads and writes (PNG: APNG)
_JP2_MAGIC = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_J2K_MAGIC = b"\xff\x4f\xff\x51"
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})  # HEIC's codec
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_ORIENTATION_TAG = 0x0112
_ICC_TAG = 34675
TIFF_TILE = 256  # tile side of TIFFs written from row bands (write_tiff_rows)
_PILLOW_LIMIT_LOCK = threading.Lock()  # guards Pillow's process-wide pixel limit (_open_with_pillow)


@dataclass(frozen=True)
class Resolution:
    """Pixels per unit along x and y: a file's DPI, its TIFF resolution tags, or ImageJ's
    calibration (``unit`` then names ImageJ's unit, "um" say). Upscaling multiplies it, so
    the result still covers the same physical (or microscope) extent."""

    x: float
    y: float
    unit: str = "inch"  # inch, centimeter, none (a TIFF without unit), or an ImageJ unit
    z_spacing: float | None = None  # ImageJ's slice spacing, which upscaling leaves alone

    def dpi(self) -> tuple[float, float] | None:
        per_inch = {"inch": 1.0, "centimeter": 2.54}.get(self.unit)
        return (self.x * per_inch, self.y * per_inch) if per_inch else None


_TIFF_UNITS = {1: "none", 2: "inch", 3: "centimeter"}
_EXIF_X_RESOLUTION, _EXIF_Y_RESOLUTION, _EXIF_RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005  # camera settings, GPS, interoperability
_EXIF_SUB_IFDS = (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD)
_EXIF_PIXEL_X, _EXIF_PIXEL_Y = 0xA002, 0xA003  # in the Exif IFD
_EXIF_ERRORS = (OSError, ValueError, SyntaxError, struct.error, KeyError, TypeError)  # Pillow's parser
_XMP_TAG = 700  # TIFF's XMP packet
_PNG_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt keyword PNG stores XMP under
# A TIFF's own tags that are the image's EXIF too: make, model, date, artist, copyright. Not
# its structure (size, strips, samples...), nor ImageDescription (tifffile, ImageJ and OME keep
# their own metadata there) or Software (the program that wrote that file).
_TIFF_EXIF_TAGS = (0x010F, 0x0110, 0x0132, 0x013B, 0x8298)


def exif_with_resolution(exif: bytes, resolution: Resolution) -> bytes:
    """EXIF bytes whose resolution tags, where present, say ``resolution`` (so they agree
    with the DPI the file format itself records)."""
    dpi = resolution.dpi()
    parsed = Image.Exif()
    parsed.load(exif)
    if dpi is None or _EXIF_X_RESOLUTION not in parsed:
        return exif
    parsed[_EXIF_X_RESOLUTION], parsed[_EXIF_Y_RESOLUTION] = dpi
    parsed[_EXIF_RESOLUTION_UNIT] = 2  # inches
    return parsed.tobytes()


def _parsed_exif(exif: bytes) -> Image.Exif | None:
    """EXIF bytes parsed by Pillow, or None where its parser fails on them."""
    parsed = Image.Exif()
    try:
        parsed.load(exif)
    except _EXIF_ERRORS:
        return None
    return parsed


def exif_with_size(exif: bytes, width: int, height: int) -> bytes:
    """EXIF bytes whose pixel dimensions (Exif IFD PixelXDimension / PixelYDimension), where
    present, say width x height: cameras record the size they wrote."""
    parsed = _parsed_exif(exif)
    try:
        camera = parsed.get_ifd(_EXIF_IFD) if parsed is not None and _EXIF_IFD in parsed else {}
    except _EXIF_ERRORS:
        camera = {}
    if _EXIF_PIXEL_X not in camera and _EXIF_PIXEL_Y not in camera:
        return exif  # none recorded, or an Exif IFD Pillow cannot parse: carried as it is
    if _EXIF_PIXEL_X not in camera and _EXIF_PIXEL_Y not in camera:
        return exif
    camera[_EXIF_PIXEL_X], camera[_EXIF_PIXEL_Y] = width, height
    return parsed.tobytes()


def xmp_with_size(xmp: bytes, width: int, height: int, dpi: tuple[float, float] | None) -> bytes:
    """An XMP packet whose image size (tiff:ImageWidth / ImageLength, exif:PixelX/YDimension)
    and, given ``dpi``, tiff:X/YResolution say the new ones, as attributes or elements."""
    values = {"tiff:ImageWidth": width, "tiff:ImageLength": height}
    values |= {"exif:PixelXDimension": width, "exif:PixelYDimension": height}
    if dpi is not None:
        values |= {"tiff:XResolution": f"{round(dpi[0] * 10000)}/10000"}
        values |= {"tiff:YResolution": f"{round(dpi[1] * 10000)}/10000"}
    text = xmp.decode("utf-8", errors="surrogateescape")
    for name, value in values.items():
        text = re.sub(rf'({re.escape(name)}\s*=\s*")[^"]*(")', rf"\g<1>{value}\g<2>", text)
        text = re.sub(rf"(<{re.escape(name)}>)[^<]*(</{re.escape(name)}>)", rf"\g<1>{value}\g<2>", text)
    return text.encode("utf-8", errors="surrogateescape")


@dataclass(frozen=True)
class TiffStack:
    """The axes of a multi-page TIFF beyond one page's Y, X and samples (tifffile's letters:
    Q pages, Z slices, T times, C channels, ...), outermost first."""

    axes: str
    shape: tuple[int, ...]
    imagej: bool = False  # an ImageJ hyperstack, written back as one

    @property
    def pages(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Animation:
    """The timing of an animated image's frames (the frames are the pages of its stack)."""

    durations: tuple[int, ...]  # milliseconds each frame shows
    loop: int | None = 0  # times to play: 0 forever; None once, with no loop count stored (GIF)


@dataclass(frozen=True)
class ImageData:
    """Decoded pixels plus the metadata to carry to the output."""

    pixels: np.ndarray  # H x W x C; orientation already applied
    has_alpha: bool = False  # the last channel (of each page) is alpha
    icc_profile: bytes | None = None
    exif: bytes | None = None  # orientation reset to 1
    source_format: str | None = None
    stack: TiffStack | None = None  # several pages, one after another along C
    cmyk: bool = False  # a TIFF's ink planes (photometric "separated"), written back as such
    geo: GeoTags | None = None  # GeoTIFF georeferencing and GDAL no-data, rescaled on writing
    resolution: Resolution | None = None  # of these pixels (upscaling rescales it)
    ome_xml: str | None = None  # a one-image OME-TIFF's metadata (upscaling rescales it)
    xmp: bytes | None = None  # XMP packet (keywords, ratings, captions, rights), sizes updated
    png_text: dict[str, str] | None = None  # a PNG's text chunks besides XMP (e.g. "parameters")
    animation: Animation | None = None  # an animated GIF / WebP / PNG: its frames are the stack's pages

    @property
    def nodata(self) -> float | None:
        return self.geo.nodata if self.geo else None

    @property
    def dpi(self) -> tuple[float, float] | None:
        """Pixels per inch, when the resolution has a physical unit."""
        return self.resolution.dpi() if self.resolution else None

    @property
    def color_channels(self) -> int:
        return self.page_bands - int(self.has_alpha)

    @property
    def page_bands(self) -> int:
        return self.pixels.shape[2] // (self.stack.pages if self.stack else 1)

    def page(self, index: int) -> ImageData:
        """One page of a stack as an image of its own (the image itself if not a stack)."""
        if self.stack is None:
            return self
        bands = self.page_bands
        pixels = self.pixels[:, :, index * bands : (index + 1) * bands]
        return replace(self, pixels=pixels, stack=None, animation=None)


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF/TIFF orientation (1..8) to an H x W x C array."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 1)[::-1, :],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _check_size(width: int, height: int, max_pixels: int, path: Path, pages: int = 1) -> None:
    if width * height * pages > max_pixels:
        size = f"{width}x{height}" + (f" x {pages} pages" if pages > 1 else "")
        raise SuperresError(
            f"image is {size} = {width * height * pages:,} pixels, over the limit of {max_pixels:,} "
            "(possible decompression bomb; raise the limit with --max-pixels if you trust the file)",
            path,
        )


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Decode an image file; raises SuperresError with a one-line reason on any problem."""
    path = Path(path)
    if not path.is_file():
        raise SuperresError("no such file", path)
    if path.stat().st_size == 0:
        raise SuperresError("empty file (0 bytes)", path)
    with open(path, "rb") as f:
        magic = f.read(64)
    try:
        if magic[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _read_tiff(path, max_pixels)
        if magic[:12] == _JP2_MAGIC or magic[:4] == _J2K_MAGIC:
            return _read_jpeg2000(path, max_pixels)
        if _is_heic(magic):
            _register_heif(path)
        return _read_pillow(path, max_pixels)
    except SuperresError:
        raise
    except Image.DecompressionBombError as exc:
        raise SuperresError(f"image is too large, possible decompression bomb ({exc})", path) from None
    except UnidentifiedImageError:
        if magic[4:8] == b"ftyp":  # a HEIF / AVIF container that its decoder could not open
            raise SuperresError("truncated or corrupt HEIF/AVIF image", path) from None
        raise SuperresError("not an image file, or a format superres does not read", path) from None
    except (OSError, ValueError, SyntaxError, struct.error, zlib.error, IndexError, KeyError) as exc:
        raise SuperresError(f"truncated or corrupt image ({str(exc).splitlines()[0][:160]})", path) from None


def _is_heic(header: bytes) -> bool:
    """Whether a file's first bytes are an ISO-BMFF ``ftyp`` box naming HEVC-coded HEIF
    (major or compatible brands), not AVIF, which shares the container (and ``mif1``)."""
    if header[4:8] != b"ftyp":
        return False
    size = int.from_bytes(header[:4], "big")
    brands = {header[8:12]} | {header[i : i + 4] for i in range(16, min(size, len(header)) - 3, 4)}
    return bool(brands & _HEVC_BRANDS) and not brands & _AVIF_BRANDS


def _register_heif(path: Path) -> None:
    """Let Pillow open and save HEIC / HEIF (pillow-heif's plugin; it applies the file's
    rotation when reading)."""
    try:
        import pillow_heif
    except ImportError:
        raise SuperresError(
            "HEIC/HEIF needs the pillow-heif package: pip install 'superres[heif]'", path
        ) from None
    pillow_heif.register_heif_opener()


def _read_jpeg2000(path: Path, max_pixels: int) -> ImageData:
    """JPEG 2000 at its full bit depth (Pillow reduces 12- and 16-bit colour to 8 bits); two
    or four components are gray or RGB with alpha. Its metadata boxes are not read."""
    import imagecodecs

    data = path.read_bytes()
    with _open_with_pillow(path) as im:  # the header, for the size check before decoding
        _check_size(im.width, im.height, max_pixels, path)
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


def _open_with_pillow(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's own decompression-bomb limit (and its warning past
    89 megapixels): read_image checks ``max_pixels`` itself from the header, before decoding,
    and Pillow's fixed limit made raising ``--max-pixels`` useless for PNG, JPEG and WebP.
    Pillow keeps that limit process-wide (``Image.MAX_IMAGE_PIXELS``), so it is lifted only
    while the header is read, under a lock, and put back."""
    with _PILLOW_LIMIT_LOCK:
        limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def jpeg_quality(path: str | Path) -> int | None:
    """The IJG quality (1-100) a JPEG file was most likely saved at, from its luminance
    quantisation table (the median ratio to the standard table, which quality scales); None
    for other files. Reads only the header. Cameras with tables of their own get the IJG
    quality nearest to theirs."""
    try:
        with _open_with_pillow(Path(path)) as im:
            tables = getattr(im, "quantization", None) if im.format == "JPEG" else None
            table = tables.get(0) if tables else None
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    if table is None or len(table) != 64:
        return None
    if max(table) == 1:  # every step 1: quality 100 (99 still has some 2s)
        return 100
    ratio = float(np.median(100 * np.asarray(table, np.float64) / _ijg_luma_table()))
    quality = 5000 / ratio if ratio > 100 else (200 - ratio) / 2
    return int(np.clip(round(quality), 1, 100))


@functools.cache
def _ijg_luma_table() -> np.ndarray:
    """The standard luminance table (Annex K), in the order Pillow reports tables: the table
    of quality 50, which is the standard one unscaled."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="JPEG", quality=50)
    with Image.open(buffer) as im:
        return np.asarray(im.quantization[0], np.float64)


def _read_pillow(path: Path, max_pixels: int) -> ImageData:
    with _open_with_pillow(path) as im:
        _check_size(im.width, im.height, max_pixels, path)
        frames = getattr(im, "n_frames", 1)
        if frames > 1 and im.format in ANIMATED_FORMATS:
            _check_size(im.width, im.height, max_pixels, path, frames)
            return _read_animation(im, frames)
        if frames > 1:  # e.g. an MPO photo's second (depth or stereo) image
            warnings.warn(f"{path}: holds {frames} images; only the first is upscaled", stacklevel=3)
        if im.format == "PNG" and _png_is_16bit_color(path):
            import imagecodecs

            pixels = imagecodecs.png_decode(path.read_bytes())
            return _with_pillow_metadata(im, pixels, pixels.shape[2] in (2, 4), True)
        if im.format == "PPM" and im.mode == "RGB" and (pixels := _ppm16_pixels(path)) is not None:
            return _with_pillow_metadata(im, pixels, False, True)
        if im.format in ("HEIF", "AVIF") and (pixels := _deep_heif_or_avif_pixels(path, im)) is not None:
            return _with_pillow_metadata(im, pixels, pixels.shape[2] in (2, 4), True)
        return from_pil(im)


def _deep_heif_or_avif_pixels(path: Path, im: Image.Image) -> np.ndarray | None:
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


def _read_animation(im: Image.Image, frames: int) -> ImageData:
    """Every frame as Pillow composites it (disposal and blending applied), RGB or RGBA
    (RGBA when any frame has a transparent pixel), with its duration and the loop count."""
    pixels, durations = [], []
    for index in range(frames):
        im.seek(index)
        im.load()
        pixels.append(np.asarray(im.convert("RGBA")))
        durations.append(round(float(im.info.get("duration") or 0)))
    has_alpha = any(bool((frame[:, :, 3] < 255).any()) for frame in pixels)
    stacked = np.concatenate(pixels if has_alpha else [frame[:, :, :3] for frame in pixels], axis=2)
    del pixels
    loop = im.info.get("loop")  # a GIF without the NETSCAPE extension has none: it plays once
    im.seek(0)
    image = _with_pillow_metadata(im, stacked, has_alpha, True)
    animation = Animation(tuple(durations), None if loop is None else int(loop))
    return replace(image, stack=TiffStack("T", (frames,)), animation=animation)


def from_pil(im: Image.Image) -> ImageData:
    """ImageData from a Pillow image (decoded now; orientation applied, metadata kept)."""
    pixels, has_alpha, keep_icc = _pillow_pixels(im)
    return _with_pillow_metadata(im, pixels, has_alpha, keep_icc)


def _with_pillow_metadata(im: Image.Image, pixels: np.ndarray, has_alpha: bool, keep_icc: bool) -> ImageData:
    """Attach ICC/EXIF from ``im``, apply its EXIF orientation and reset that tag."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    exif = im.getexif()
    orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
    pixels = _orient(pixels, orientation)
    exif_bytes = None
    if len(exif):
        exif[_ORIENTATION_TAG] = 1
        exif_bytes = exif.tobytes()
    icc = im.info.get("icc_profile") if keep_icc else None
    dpi = im.info.get("dpi")
    resolution = Resolution(float(dpi[0]), float(dpi[1])) if dpi and min(dpi) > 0 else None
    resolution = _oriented(resolution, orientation)
    xmp = im.info.get("xmp") or None
    xmp = xmp.encode("utf-8") if isinstance(xmp, str) else xmp
    text = (
        {k: v for k, v in getattr(im, "text", {}).items() if k != _PNG_XMP_KEY} if im.format == "PNG" else {}
    )
    return ImageData(
        pixels, has_alpha, icc, exif_bytes, im.format, resolution=resolution, xmp=xmp, png_text=text or None
    )


def _png_is_16bit_color(path: Path) -> bool:
    with open(path, "rb") as f:
        header = f.read(26)
    bit_depth, color_type = header[24], header[25]
    return bit_depth == 16 and color_type in (2, 4, 6)  # RGB, gray+alpha, RGBA


def _pillow_pixels(im: Image.Image) -> tuple[np.ndarray, bool, bool]:
    """(H x W [x C] array, has_alpha, whether the ICC profile still applies)."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "CMYK":
        # A CMYK ICC profile does not describe the RGB result, so it is dropped.
        return np.asarray(im.convert("RGB")), False, False
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), False, True
    elif mode == "I":
        pixels = np.asarray(im)
        if pixels.min() >= 0 and pixels.max() <= 65535:
            pixels = pixels.astype(np.uint16)  # 16-bit PNG/TIFF gray as older Pillow reads it
        return pixels, False, True
    pixels = np.asarray(im)
    return pixels, im.mode in ("RGBA", "LA"), True


def _read_tiff(path: Path, max_pixels: int) -> ImageData:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = tif.pages[0]
        if len(tif.series) > 1:  # e.g. a thumbnail, or pages of another size or type
            first = f"{'x'.join(str(n) for n in series.shape)} {series.axes}"
            message = f"{path}: holds {len(tif.series)} image series; only the first ({first}) is upscaled"
            warnings.warn(message, stacklevel=3)
        axes = series.axes
        shape = dict(zip(axes, series.shape, strict=True))
        stack_axes = "".join(a for a in axes if a not in "YXS")
        stack_shape = tuple(shape[a] for a in stack_axes)
        _check_size(shape.get("X", 1), shape.get("Y", 1), max_pixels, path, math.prod(stack_shape))
        pixels = series.asarray()
        icc = page.tags[_ICC_TAG].value if _ICC_TAG in page.tags else None
        xmp = bytes(page.tags[_XMP_TAG].value) if _XMP_TAG in page.tags else None
        orientation = int(page.tags[274].value) if 274 in page.tags else 1
        extra = page.tags[338].value if 338 in page.tags else ()
        imagej = tif.is_imagej
        cmyk = page.photometric == tifffile.PHOTOMETRIC.SEPARATED
        geo = read_geo_tags(page)
        resolution = _tiff_resolution(tif, page)
        ome_xml = _carried_ome(tif, path)
    exif = _tiff_exif(path)
    if geo is not None and orientation != 1:
        warnings.warn(f"{path}: a reoriented TIFF's georeferencing is not carried over", stacklevel=3)
        geo = None
    if "S" not in axes:
        pixels, axes = pixels[..., None], axes + "S"
    # Y, X, then the stack's axes and the samples, flattened: page after page along the bands.
    pixels = np.transpose(pixels, [axes.index(a) for a in "YX" + stack_axes + "S"])
    pixels = np.ascontiguousarray(pixels.reshape(pixels.shape[0], pixels.shape[1], -1))
    extra = tuple(np.atleast_1d(extra))
    bands = shape.get("S", 1)
    has_alpha = bool(extra) and int(extra[-1]) in (1, 2) and bands in (2, 4)
    if pixels.dtype == np.bool_:
        pixels = pixels.astype(np.uint8) * 255
    stack = TiffStack(stack_axes, stack_shape, imagej) if stack_axes else None
    icc = bytes(icc) if icc else None
    pixels, resolution = _orient(pixels, orientation), _oriented(resolution, orientation)
    return ImageData(
        pixels,
        has_alpha,
        icc,
        exif,
        "TIFF",
        stack=stack,
        cmyk=cmyk,
        geo=geo,
        resolution=resolution,
        ome_xml=ome_xml,
        xmp=xmp or None,
    )


def _carried_ome(tif: Any, path: Path) -> str | None:
    """The OME-XML of an OME-TIFF that describes one image (the series that is upscaled)."""
    if not tif.is_ome:
        return None
    xml = tif.ome_metadata
    count = image_count(xml or "")
    if count == 1:
        return xml
    warnings.warn(f"{path}: its OME-XML describes {count} images; it is not carried over", stacklevel=4)
    return None


def _tiff_exif(path: Path) -> bytes | None:
    """A TIFF's EXIF as EXIF bytes: its descriptive tags (make, model, date, ...) and its Exif
    and GPS sub-IFDs; None if it has none or they cannot be parsed. Read from the first IFD
    with Pillow's EXIF parser, not Image.open (no pixel-count checks: read_image made them)."""
    try:
        with open(path, "rb") as f:
            source = Image.Exif()
            source.load_from_fp(f)
            exif = Image.Exif()
            for tag in _TIFF_EXIF_TAGS:
                if tag in source:
                    exif[tag] = source[tag]
            found = False
            for tag in (_EXIF_IFD, _GPS_IFD):  # (Interoperability sits inside Exif)
                if source.get_ifd(tag):
                    exif.get_ifd(tag).update(source.get_ifd(tag))
                    found = True
    except _EXIF_ERRORS:
        return None
    return exif.tobytes() if len(exif) or found else None


def _oriented(resolution: Resolution | None, orientation: int) -> Resolution | None:
    """The resolution of pixels turned by an EXIF/TIFF orientation: x and y swap on a quarter turn."""
    if resolution is None or orientation not in (5, 6, 7, 8):
        return resolution
    return replace(resolution, x=resolution.y, y=resolution.x)


def _tiff_resolution(tif: Any, page: Any) -> Resolution | None:
    """From the resolution tags, with ImageJ's unit and slice spacing when it wrote the file."""
    if 282 not in page.tags or 283 not in page.tags:
        return None
    x, y = (float(v) for v in page.resolution)
    if x <= 0 or y <= 0:
        return None
    unit = _TIFF_UNITS.get(int(page.resolutionunit), "none")
    imagej = tif.imagej_metadata or {}
    spacing = imagej.get("spacing")
    if imagej.get("unit"):
        unit = str(imagej["unit"])
    return Resolution(x, y, unit, float(spacing) if spacing else None)


def _tiff_resolution_options(image: ImageData) -> dict:
    """tifffile.imwrite arguments for the resolution tags."""
    res = image.resolution
    if res is None:
        return {}
    units = {name: code for code, name in _TIFF_UNITS.items()}
    return {"resolution": (res.x, res.y), "resolutionunit": units.get(res.unit, 1)}


def output_format(path: str | Path) -> str:
    try:
        fmt = FORMATS[Path(path).suffix.lower()]
    except KeyError:
        raise SuperresError(
            f"unknown output extension; use one of {', '.join(sorted(set(FORMATS)))}", path
        ) from None
    if fmt == "AVIF" and not features.check("avif"):
        raise SuperresError("this Pillow cannot write AVIF (it was built without libavif)", path)
    if fmt == "HEIF":
        _register_heif(Path(path))
    return fmt


def check_fits_format(path: str | Path, height: int, width: int, source: str | Path | None = None) -> None:
    """Refuse (SuperresError, naming ``source`` if given, else ``path``) a height x width
    result the format at ``path`` cannot encode, so a batch learns it before the upscale."""
    fmt = output_format(path)
    limit = MAX_SIDE.get(fmt)
    if limit is not None and max(height, width) > limit:
        name = _SHOWN_NAMES.get(fmt, fmt)
        raise SuperresError(
            f"the result would be {width}x{height} pixels; {name} holds at most {limit} a side "
            "(write .png or .tif instead)",
            source if source is not None else path,
        )


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return pixels


def _without_png_text(image: ImageData, fmt: str, path: Path) -> ImageData:
    """``image`` for ``fmt``: a PNG's text chunks are said to be dropped outside PNG."""
    if not image.png_text or fmt == "PNG":
        return image
    names = ", ".join(sorted(image.png_text))
    message = f"{path}: the input's PNG text ({names}) is not carried into {fmt} (PNG keeps it)"
    warnings.warn(message, stacklevel=4)
    return replace(image, png_text=None)


def check_format_holds(path: str | Path, image: ImageData, source: str | Path | None = None) -> None:
    """Refuse (SuperresError, naming ``source`` if given, else ``path``) an image the format
    at ``path`` cannot hold at all: pages, frames, sample type, inks or bands. An upscale
    keeps all of these, so a batch checks its input before the upscale."""
    fmt = output_format(path)
    problem = None
    if fmt == "TIFF":
        return
    if image.animation is not None and fmt not in ANIMATED_FORMATS:
        frames = len(image.animation.durations)
        problem = f"an animation of {frames} frames can only be written as GIF, WebP, PNG (APNG) or TIFF"
    elif image.stack is not None and image.animation is None:
        problem = f"a stack of {image.stack.pages} pages can only be written as TIFF (.tif)"
    elif image.pixels.dtype not in (np.uint8, np.uint16):
        problem = f"{image.pixels.dtype} samples can only be written as TIFF (.tif)"
    elif image.cmyk:
        problem = "a CMYK image can only be written as TIFF (.tif)"
    elif image.color_channels not in (1, 3):
        problem = f"a {image.page_bands}-band image can only be written as TIFF (.tif)"
    if problem is not None:
        raise SuperresError(problem, source if source is not None else path)


def adapt_for_format(image: ImageData, fmt: str, path: Path) -> ImageData:
    """Make ``image`` storable as ``fmt``: warn when depth, alpha or metadata must be given
    up, refuse (SuperresError) what the format cannot hold at all."""
    check_format_holds(path, image)
    pixels = image.pixels
    image = _without_png_text(image, fmt, path)
    if fmt == "TIFF":
        if image.animation is not None:
            warnings.warn(f"{path}: TIFF keeps the frames as pages but not their timing", stacklevel=3)
        return image
    if image.geo is not None:
        warnings.warn(f"{path}: {fmt} cannot hold the input's georeferencing; it is dropped", stacklevel=3)
        image = replace(image, geo=None)
    if image.ome_xml is not None:
        warnings.warn(f"{path}: {fmt} cannot hold the input's OME-XML metadata; it is dropped", stacklevel=3)
        image = replace(image, ome_xml=None)
    if pixels.dtype == np.uint16 and fmt not in DEEP_FORMATS:
        warnings.warn(
            f"{path}: {fmt} holds 8 bits per sample; the 16-bit result is reduced to 8 bits", stacklevel=3
        )
        image = replace(image, pixels=_to_uint8(pixels))
    if pixels.dtype == np.uint16 and fmt == "HEIF" and image.source_format != "HEIF":
        message = f"{path}: HEIC is written with {HEIF_BITS} bits per sample; the 16-bit result is reduced"
        warnings.warn(message, stacklevel=3)
    if image.has_alpha and fmt not in ALPHA_FORMATS:
        name = _SHOWN_NAMES.get(fmt, fmt)
        warnings.warn(f"{path}: {name} has no alpha channel; the alpha channel is dropped", stacklevel=3)
        image = replace(image, pixels=image.pixels[:, :, :-1], has_alpha=False)
    _warn_if_metadata_dropped(path, image, fmt)
    return image


def _warn_if_metadata_dropped(path: Path, image: ImageData, fmt: str) -> None:
    held = {"EXIF": image.exif, "XMP": image.xmp, "ICC profile": image.icc_profile, "DPI": image.dpi}
    if fmt in _SCREEN_FORMATS:
        del held["DPI"]
    dropped = [name for name, value in held.items() if value and name not in _CARRIED_METADATA[fmt]]
    if dropped:
        name = _SHOWN_NAMES.get(fmt, fmt)
        listed = ", ".join(dropped[:-1]) + (" or " if len(dropped) > 1 else "") + dropped[-1]
        warnings.warn(f"{path}: {name} output does not carry the input's {listed}", stacklevel=4)


def write_image(path: str | Path, image: ImageData, quality: int = 95) -> Path:
    """Encode ``image`` in the format named by the extension, atomically (temp + rename)."""
    path = Path(path)
    fmt = output_format(path)
    check_fits_format(path, *image.pixels.shape[:2])
    image = adapt_for_format(image, fmt, path)
    if fmt == "TIFF":
        _warn_if_exif_dropped(path, image)
    with atomic_output(path) as tmp:
        if fmt == "TIFF":
            _write_tiff(tmp, image)
        elif fmt == "JPEG2000":
            tmp.write_bytes(_jpeg2000_bytes(image, path))
        elif image.animation is not None:
            _write_animation(tmp, image, fmt, quality)
        elif fmt == "PNG" and image.pixels.dtype == np.uint16 and image.pixels.shape[2] > 1:
            tmp.write_bytes(_png16_bytes(image))
        elif fmt == "PPM" and image.pixels.dtype == np.uint16 and image.pixels.shape[2] == 3:
            tmp.write_bytes(_ppm16_bytes(image.pixels))
        elif fmt == "HEIF" and image.pixels.dtype == np.uint16:
            _write_deep_heif(tmp, image, quality)
        else:
            _write_pillow(tmp, image, fmt, quality)
    return path


def _jpeg2000_bytes(image: ImageData, path: Path) -> bytes:
    """Lossless JPEG 2000 (reversible wavelet), JP2 file or bare codestream by extension."""
    import imagecodecs

    pixels = image.pixels if image.pixels.shape[2] > 1 else image.pixels[:, :, 0]
    codec = "j2k" if Path(path).suffix.lower() == ".j2k" else "jp2"
    return imagecodecs.jpeg2k_encode(np.ascontiguousarray(pixels), level=0, codecformat=codec)


def _ppm16_bytes(pixels: np.ndarray) -> bytes:
    """16-bit colour Netpbm (P6, maxval 65535, big-endian samples), which Pillow cannot write."""
    height, width = pixels.shape[:2]
    return b"P6\n%d %d\n65535\n" % (width, height) + pixels.astype(">u2").tobytes()


def _ppm16_pixels(path: Path) -> np.ndarray | None:
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


def _write_deep_heif(path: Path, image: ImageData, quality: int) -> None:
    """16-bit samples as a 10-bit HEIC (pillow-heif keeps the top bits), metadata as for 8 bits."""
    import pillow_heif

    height, width, channels = image.pixels.shape
    mode = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[channels]
    data = np.ascontiguousarray(image.pixels if channels > 1 else image.pixels[:, :, 0])
    heif = pillow_heif.from_bytes(mode=mode, size=(width, height), data=data.tobytes())
    options = {k: v for k, v in _pillow_options(image, "HEIF", quality).items() if k != "dpi"}
    heif.save(path, format="HEIF", **options)


def _pillow_image(pixels: np.ndarray) -> Image.Image:
    # Pillow picks L / I;16 / LA / RGB / RGBA from the dtype and channel count.
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)


def _write_animation(path: Path, image: ImageData, fmt: str, quality: int) -> None:
    """Every frame, with its duration and the loop count: GIF (256 colours a frame, as GIF
    holds), WebP (lossy at ``quality``) or APNG; ICC and EXIF as for a still image."""
    frames = [_pillow_image(image.page(i).pixels) for i in range(image.stack.pages)]
    loop = image.animation.loop
    options = _pillow_options(image, fmt, quality)
    options |= {"save_all": True, "append_images": frames[1:], "duration": list(image.animation.durations)}
    if loop is not None or fmt != "GIF":  # WebP and APNG store a count: 1 plays once
        options["loop"] = 1 if loop is None else loop
    frames[0].save(path, format=fmt, **options)


def _write_pillow(path: Path, image: ImageData, fmt: str, quality: int) -> None:
    _pillow_image(image.pixels).save(path, format=fmt, **_pillow_options(image, fmt, quality))


def _pillow_options(image: ImageData, fmt: str, quality: int) -> dict:
    """Pillow's save options for ``image`` in ``fmt``: quality and its metadata."""
    options: dict = {}
    if fmt in ("JPEG", "WEBP", "AVIF", "HEIF"):
        options["quality"] = quality
    if fmt in ("JPEG", "AVIF", "HEIF"):  # 4:4:4: chroma subsampling would blur the upscaled detail
        options["subsampling"] = 0 if fmt == "JPEG" else "4:4:4"
    if fmt == "TGA":
        options["compression"] = "tga_rle"  # lossless; read by every tool that reads TGA
    carried = _CARRIED_METADATA[fmt]
    if image.icc_profile and "ICC profile" in carried:
        options["icc_profile"] = image.icc_profile
    if image.exif and "EXIF" in carried:
        options["exif"] = image.exif
    if image.dpi and "DPI" in carried:
        options["dpi"] = image.dpi
    if image.xmp and "XMP" in carried and fmt != "PNG":  # PNG: an iTXt chunk (_png_texts)
        options["xmp"] = image.xmp
    if fmt == "PNG" and _png_texts(image):
        from PIL.PngImagePlugin import PngInfo

        options["pnginfo"] = PngInfo()
        for keyword, text in _png_texts(image):
            options["pnginfo"].add_itxt(keyword, text)
    return options


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png16_bytes(image: ImageData) -> bytes:
    """16-bit gray+alpha / RGB / RGBA PNG, with iCCP and eXIf chunks added after IHDR."""
    import imagecodecs

    encoded = imagecodecs.png_encode(np.ascontiguousarray(image.pixels))
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return encoded[:ihdr_end] + _png_metadata_chunks(image) + encoded[ihdr_end:]


def _png_metadata_chunks(image: ImageData) -> bytes:
    """The chunks that carry ``image``'s ICC profile, EXIF, DPI, text and XMP."""
    extra = b""
    if image.icc_profile:
        extra += _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(image.icc_profile))
    if image.exif:
        exif = image.exif[6:] if image.exif.startswith(b"Exif\x00\x00") else image.exif
        extra += _png_chunk(b"eXIf", exif)
    if image.dpi:  # pixels per metre, unit 1 (metre)
        x, y = (round(d / 0.0254) for d in image.dpi)
        extra += _png_chunk(b"pHYs", struct.pack(">IIB", x, y, 1))
    for keyword, text in _png_texts(image):  # iTXt: UTF-8, uncompressed, no language
        extra += _png_chunk(
            b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
        )
    return extra


def write_png_rows(path: str | Path, image: ImageData, row_bands: Iterable[np.ndarray]) -> Path:
    """A PNG whose pixels arrive as consecutive bands of rows, top to bottom, of any heights:
    each row filtered as libpng would (the filter whose bytes sum to the least magnitude),
    deflated and written atomically as the bands come, so only a band is held, never the
    whole image. ``image`` gives the shape, sample type and metadata (as :func:`write_image`
    would write them); its pixels are not read."""
    path = Path(path)
    image = adapt_for_format(image, "PNG", path)
    height, width, channels = image.pixels.shape
    depth = 16 if image.pixels.dtype == np.uint16 else 8
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]  # gray, gray+alpha, RGB, RGBA
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    compressor = zlib.compressobj(6)
    previous = np.zeros(width * channels * depth // 8, np.uint8)  # the row above the first
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_metadata_chunks(image))
        for band in _counted_rows(row_bands, height):
            for top in range(0, len(band), 64):  # the filter candidates of 64 rows at a time
                raw = np.ascontiguousarray(band[top : top + 64].astype(f">u{depth // 8}"))
                raw = raw.view(np.uint8).reshape(len(raw), -1)
                data = compressor.compress(_png_filtered(raw, previous, channels * depth // 8))
                previous = raw[-1]
                if data:
                    f.write(_png_chunk(b"IDAT", data))
        f.write(_png_chunk(b"IDAT", compressor.flush()) + _png_chunk(b"IEND", b""))
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


def _png_texts(image: ImageData) -> list[tuple[str, str]]:
    """(keyword, text) of the PNG text chunks to write: the input's, then the XMP packet."""
    texts = list((image.png_text or {}).items())
    if image.xmp:
        texts.append((_PNG_XMP_KEY, image.xmp.decode("utf-8", errors="replace")))
    return texts


def _pillow_can_write_tiff(image: ImageData) -> bool:
    """Pillow writes EXIF into TIFFs but holds only 8-bit L/LA/RGB/RGBA and 16-bit gray."""
    pixels = image.pixels
    if pixels.dtype == np.uint16:
        return pixels.shape[2] == 1
    return pixels.dtype == np.uint8 and pixels.shape[2] in (1, 3) + ((2, 4) if image.has_alpha else ())


def _tiff_through_pillow(image: ImageData) -> bool:
    """Whether a TIFF of ``image`` goes through Pillow, the one writer here that carries EXIF:
    when there is EXIF and Pillow holds the pixels and every tag (no stack, georeferencing or OME)."""
    if not image.exif or image.stack is not None or image.geo is not None or image.ome_xml is not None:
        return False
    return _pillow_can_write_tiff(image)


def _has_exif_sub_ifds(exif: bytes) -> bool:
    """Whether EXIF holds camera settings, GPS or interoperability sub-IFDs (which libtiff
    through Pillow refuses to compress and tifffile cannot write)."""
    parsed = _parsed_exif(exif)
    return parsed is None or any(tag in parsed for tag in _EXIF_SUB_IFDS)


def _exif_descriptive_tags(exif: bytes) -> dict[int, str]:
    """The EXIF tags a TIFF holds in its own IFD (``_TIFF_EXIF_TAGS``) with ASCII values."""
    parsed = _parsed_exif(exif)
    if parsed is None:
        return {}
    values = {tag: parsed.get(tag) for tag in _TIFF_EXIF_TAGS}
    ascii_values = {tag: v.rstrip("\x00 ") for tag, v in values.items() if isinstance(v, str) and v.isascii()}
    return {tag: v for tag, v in ascii_values.items() if v}


def _warn_if_exif_dropped(path: Path, image: ImageData) -> None:
    if not image.exif or _tiff_through_pillow(image) or not _has_exif_sub_ifds(image.exif):
        return
    if image.geo is not None:
        kind = "a georeferenced TIFF"
    elif image.stack is not None:
        kind = f"a TIFF of {image.stack.pages} pages"
    else:
        kind = f"a TIFF of {image.pixels.shape[2]} {image.pixels.dtype} bands"
    warnings.warn(
        f"{path}: the input's EXIF camera settings and GPS are not carried into {kind} (its make,"
        " model, date, artist and copyright are; PNG or JPEG would keep all of it)",
        stacklevel=4,
    )


def _write_tiff(path: Path, image: ImageData) -> None:
    """Deflate-compressed TIFF: through Pillow when there is EXIF to carry and Pillow can
    hold the image, else through tifffile (any sample type and band count, ICC kept). The
    libtiff encoder behind Pillow's compression cannot write EXIF's own sub-IFDs (camera
    settings, GPS), so a TIFF carrying them is written uncompressed, with all of its EXIF."""
    if _tiff_through_pillow(image):
        im = Image.fromarray(image.pixels[:, :, 0] if image.pixels.shape[2] == 1 else image.pixels)
        tags = Image.Exif()
        tags.load(image.exif)
        if image.xmp:  # in the same tag set: Pillow's tiffinfo would replace the EXIF
            tags[_XMP_TAG] = image.xmp
        options = {"exif": tags}
        if not _has_exif_sub_ifds(image.exif):
            options["compression"] = "tiff_adobe_deflate"
        if image.icc_profile:
            options["icc_profile"] = image.icc_profile
        if image.dpi:
            options["dpi"] = image.dpi
        im.save(path, format="TIFF", **options)
        return
    if image.stack is not None:
        _write_tiff_stack(path, image)
        return
    import tifffile

    pixels = image.pixels
    tifffile.imwrite(path, pixels if pixels.shape[2] > 1 else pixels[:, :, 0], **_tifffile_options(image))


def _tifffile_options(image: ImageData) -> dict:
    """tifffile.imwrite arguments for a single-page ``image``: bands, compression, metadata."""
    channels = image.pixels.shape[2]
    return {
        "photometric": _tiff_photometric(image),
        "planarconfig": "contig" if channels > 1 else None,
        "extrasamples": ("unassalpha",) if image.has_alpha else None,
        "compression": "zlib",
        "extratags": _extratags(image),
        **_tiff_resolution_options(image),
        **_ome_options(image),
    }


def _ome_options(image: ImageData) -> dict:
    """tifffile.imwrite arguments that make the output an OME-TIFF with ``image.ome_xml``
    as its description (instead of tifffile's own shaped-array description)."""
    return {"description": image.ome_xml, "metadata": None} if image.ome_xml else {}


def writes_in_row_bands(path: str | Path, image: ImageData) -> bool:
    """Whether :func:`write_rows` writes ``image`` to ``path`` as :func:`write_image` would:
    a single-page TIFF, not one whose EXIF only Pillow carries; a PNG the format can hold."""
    fmt = output_format(path)
    if fmt == "TIFF":
        return image.stack is None and not _tiff_through_pillow(image)
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


def write_tiff_rows(path: str | Path, image: ImageData, row_bands: Iterable[np.ndarray]) -> Path:
    """A single-page TIFF whose pixels arrive as consecutive bands of rows, top to bottom,
    of any heights: written atomically as deflate-compressed ``TIFF_TILE``-pixel tiles, so
    only a band and one row of tiles are held, never the whole image. ``image`` gives the
    shape, sample type and metadata; its pixels are not read (``np.broadcast_to`` of one
    sample will do)."""
    import tifffile

    path = Path(path)
    height, width, channels = image.pixels.shape
    _warn_if_exif_dropped(path, image)
    image = _without_png_text(image, "TIFF", path)

    counted = _counted_rows(row_bands, height)

    def tiles() -> Iterator[np.ndarray]:
        for rows in _regrouped_rows(counted, TIFF_TILE):
            for left in range(0, width, TIFF_TILE):
                tile = rows[:, left : left + TIFF_TILE]
                yield tile if channels > 1 else tile[:, :, 0]

    with atomic_output(path) as tmp:
        options = _tifffile_options(image)
        shape = (height, width, channels) if channels > 1 else (height, width)
        tifffile.imwrite(
            tmp, tiles(), shape=shape, dtype=image.pixels.dtype, tile=(TIFF_TILE, TIFF_TILE), **options
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


def _extratags(image: ImageData) -> list[tuple]:
    """The ICC profile, XMP, EXIF's descriptive tags (make, model, date, artist, copyright:
    a TIFF's own), and the GeoTIFF / GDAL tags rescaled to the output raster."""
    tags = [(_ICC_TAG, "B", len(image.icc_profile), image.icc_profile, True)] if image.icc_profile else []
    if image.xmp:
        tags.append((_XMP_TAG, "B", len(image.xmp), image.xmp, True))
    if image.exif:
        tags += [(tag, "s", 0, value, True) for tag, value in _exif_descriptive_tags(image.exif).items()]
    if image.geo is not None:
        tags += image.geo.rescaled(image.pixels.shape[1], image.pixels.shape[0])
    return tags


def _tiff_photometric(image: ImageData) -> str:
    if image.cmyk:
        return "separated"
    return "rgb" if image.color_channels == 3 else "minisblack"


def _write_tiff_stack(path: Path, image: ImageData) -> None:
    """A multi-page TIFF with the source's axes: an ImageJ hyperstack when the source was one
    and ImageJ can hold the sample type, else tifffile's shaped pages (axes in the description)."""
    import tifffile

    stack, bands = image.stack, image.page_bands
    height, width = image.pixels.shape[:2]
    pixels = image.pixels.reshape(height, width, *stack.shape, bands)
    pixels = np.moveaxis(pixels, [0, 1], [len(stack.shape), len(stack.shape) + 1])  # stack, Y, X, S
    axes = stack.axes + "YX" + ("S" if bands > 1 else "")
    if bands == 1:
        pixels = pixels[..., 0]
    options = {"photometric": _tiff_photometric(image)}
    if bands > 1:
        options |= {"planarconfig": "contig", "extrasamples": ("unassalpha",) if image.has_alpha else None}
    imagej = stack.imagej and pixels.dtype in (np.uint8, np.uint16, np.float32) and set(axes) <= set("TZCYXS")
    imagej = imagej and image.ome_xml is None  # pages in the input's order, as its OME-XML maps them
    options["extratags"] = _extratags(image)
    if imagej:
        metadata = {"axes": axes}
        res = image.resolution
        if res is not None:  # ImageJ keeps its unit and slice spacing in its own description
            options |= {"resolution": (res.x, res.y)}
            metadata |= {"unit": res.unit} if res.unit not in ("none", "inch", "centimeter") else {}
            metadata |= {"spacing": res.z_spacing} if res.z_spacing else {}
        tifffile.imwrite(path, pixels, imagej=True, metadata=metadata, **options)
    else:
        options |= _tiff_resolution_options(image)
        options |= _ome_options(image) or {"metadata": {"axes": axes}}
        tifffile.imwrite(path, pixels, compression="zlib", **options)


def to_pil(image: ImageData) -> Image.Image:
    """A Pillow image of ``image`` (8-bit, or I;16 for 16-bit gray); metadata in ``.info``."""
    pixels = image.pixels
    im = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else _to_uint8(pixels))
    if image.icc_profile:
        im.info["icc_profile"] = image.icc_profile
    if image.exif:
        im.info["exif"] = image.exif
    if image.dpi:
        im.info["dpi"] = image.dpi
    if image.xmp:
        im.info["xmp"] = image.xmp
    return im
