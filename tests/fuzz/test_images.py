"""Hostile and broken image files: every one gives exit 0 (upscaled, perhaps with a warning)
or 1 (a one-line error naming the file), never a traceback, writes nothing outside ``-o``
and leaves its input as it was; a batch of all of them goes on past each bad file and lists
every failure at the end. Run with the bicubic "model" to stay fast."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.conftest import smooth_image
from tests.fuzz.conftest import assert_only_added_under, run_superres, tree_state

UPSCALE = ("-m", "bicubic", "-s", "2", "-q")
_SAVE = {
    "png": "PNG", "jpg": "JPEG", "webp": "WEBP", "bmp": "BMP", "gif": "GIF",
    "tif": "TIFF", "tga": "TGA", "ppm": "PPM", "jp2": "JPEG2000",
}  # fmt: skip


def _encoded(ext: str, pixels: np.ndarray | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(smooth_image(12, 16) if pixels is None else pixels).save(buffer, _SAVE[ext], **options)
    return buffer.getvalue()


def _tiff(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_with_chunk(kind: bytes, data: bytes) -> bytes:
    """An ordinary PNG with one more chunk right after IHDR."""
    plain = _encoded("png")
    return plain[:33] + _png_chunk(kind, data) + plain[33:]


def _png_bomb() -> bytes:
    """A PNG whose header says 30000 x 30000 (900 MP, over the default --max-pixels) and whose
    data would inflate to that, from a few kilobytes: refused before decoding."""
    width = height = 30_000
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    data = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _exif_orientation(kind: int, count: int, payload: bytes) -> bytes:
    """EXIF bytes of one IFD entry: the orientation tag as TIFF type ``kind``."""
    inline = len(payload) <= 4
    value = payload.ljust(4, b"\0") if inline else struct.pack("<I", 26)
    ifd = struct.pack("<IHHHI", 8, 1, 0x0112, kind, count) + value + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + ifd + (b"" if inline else payload)


def _negative_dpi_bmp() -> bytes:
    data = bytearray(_encoded("bmp"))
    data[38:46] = struct.pack("<ii", -3780, -3780)  # pixels per metre, signed: read as ~4e9
    return bytes(data)


def _xmp_orientation_png() -> bytes:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="3"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    return _encoded("png", pnginfo=info)


def _tag_past_the_end_tiff() -> bytes:
    data = bytearray(_tiff(np.zeros((8, 8), np.uint8), extratags=[(65000, "d", 3, (1.0, 2.0, 3.0), True)]))
    entry = data.find(struct.pack("<HH", 65000, 12))
    data[entry + 8 : entry + 12] = struct.pack("<I", 10**8)
    return bytes(data)


def _floats(values: list[float], dtype: type) -> np.ndarray:
    return np.array(values * 4, dtype).reshape(4, -1)


def _encoded_rgb16() -> bytes:
    import imagecodecs

    return imagecodecs.png_encode(smooth_image(12, 16).astype(np.uint16) * 257)


def _encoded_mode(ext: str, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(smooth_image(12, 16)).convert(mode).save(buffer, _SAVE[ext])
    return buffer.getvalue()


def _int16_imagej() -> bytes:
    stack = np.arange(-64, 64, dtype=np.int16).reshape(2, 8, 8)
    calibration = {"axes": "ZYX", "unit": "um", "spacing": 0.5}
    return _tiff(stack, imagej=True, resolution=(2.0, 2.0), metadata=calibration)


RATIONAL_6_0 = struct.pack("<II", 6, 0)
GRAY = np.arange(48, dtype=np.uint8).reshape(6, 8)
TIE = (33922, "d", 6, (0.0, 0.0, 0.0, 100.0, 200.0, 0.0), True)
# name -> (the file's bytes, the exit code superres must give)
CASES: dict[str, tuple[Callable[[], bytes], int]] = {
    # hostile metadata: upscaled, the bad part ignored or dropped with a warning
    "phys_max.png": (lambda: _png_with_chunk(b"pHYs", struct.pack(">IIB", 0xFFFFFFFF, 0xFFFFFFFF, 1)), 0),
    "negative_dpi.bmp": (_negative_dpi_bmp, 0),
    "geo_scale_count1.tif": (lambda: _tiff(GRAY, extratags=[(33550, "d", 1, (1.0,), True), TIE]), 0),
    "geo_keys_count1.tif": (lambda: _tiff(GRAY, extratags=[(34735, "H", 1, (1,), True)]), 0),
    "orientation_count2.tif": (lambda: _tiff(GRAY, extratags=[(274, "H", 2, (3, 3), True)]), 0),
    "exif_orientation_6_0.jpg": (lambda: _encoded("jpg", exif=_exif_orientation(5, 1, RATIONAL_6_0)), 0),
    "exif_orientation_text.jpg": (lambda: _encoded("jpg", exif=_exif_orientation(2, 4, b"six\0")), 0),
    "exif_orientation_99.png": (lambda: _encoded("png", exif=_exif_orientation(3, 1, b"\x63\0")), 0),
    "xmp_orientation.png": (_xmp_orientation_png, 0),
    "float64_1e302.tif": (lambda: _tiff(_floats([0, 1e302, -1e302, 5], np.float64)), 0),
    "float32_3e38.tif": (lambda: _tiff(_floats([0, 3e38, -3e38, 5], np.float32)), 0),
    "float32_inf.tif": (lambda: _tiff(_floats([0, np.inf, -np.inf, 5], np.float32)), 0),
    "float64_beyond_range.tif": (lambda: _tiff(_floats([0, 1.7e308, -1.7e308, 5], np.float64)), 1),
    "int16_imagej.tif": (_int16_imagej, 0),
    "tag_past_the_end.tif": (_tag_past_the_end_tiff, 0),
    "corrupt_exif_chunk.png": (lambda: _png_with_chunk(b"eXIf", b"MM\0*\0\0\0\x08\xff\xff"), 0),
    "imagej_spacing_text.tif": (
        lambda: _tiff(np.zeros((2, 6, 8), np.uint8), imagej=True, metadata={"axes": "ZYX", "spacing": "x"}),
        0,
    ),
    "truncated_rgb16.png": (lambda: _encoded_rgb16()[:200], 1),
    "rgb16.png": (_encoded_rgb16, 0),
    # odd modes and band counts
    "gray_alpha.png": (lambda: _encoded("png", smooth_image(12, 16, 4)[:, :, :2]), 0),
    "palette.gif": (lambda: _encoded("gif"), 0),
    "one_bit.png": (lambda: _encoded("png", GRAY > 20), 0),
    "gray16.png": (lambda: _encoded("png", (GRAY.astype(np.uint16) * 1000)), 0),
    "two_bands.tif": (lambda: _tiff(np.zeros((6, 8, 2), np.uint8), planarconfig="contig"), 0),
    "five_bands.tif": (lambda: _tiff(np.zeros((6, 8, 5), np.uint16), planarconfig="contig"), 0),
    "int8.tif": (lambda: _tiff(GRAY.astype(np.int8)), 0),
    "uint32.tif": (lambda: _tiff(GRAY.astype(np.uint32) * 70_000), 0),
    "complex.tif": (lambda: _tiff(GRAY.astype(np.complex64)), 1),
    "one_pixel.png": (lambda: _encoded("png", np.zeros((1, 1), np.uint8)), 0),
    "cmyk.jpg": (lambda: _encoded_mode("jpg", "CMYK"), 0),
    # wrong extension, not an image, a decompression bomb
    "png_named.jpg": (lambda: _encoded("png"), 0),
    "jpeg_named.tif": (lambda: _encoded("jpg"), 0),
    "text_named.png": (lambda: b"this is not an image\n" * 4, 1),
    "random_bytes.webp": (lambda: np.random.default_rng(1).bytes(300), 1),
    "bomb.png": (_png_bomb, 1),
}
# every format superres reads: zero bytes, and cut off halfway
for _ext in _SAVE:
    CASES[f"empty.{_ext}"] = (lambda: b"", 1)
    CASES[f"truncated.{_ext}"] = (lambda ext=_ext: _encoded(ext)[: len(_encoded(ext)) // 2], 1)


def _corpus(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(CASES[name][0]())
    return [folder / name for name in names]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_file_gives_a_clear_result(tmp_path, name):
    (path,) = _corpus(tmp_path / "in", [name])
    out = tmp_path / "out"
    before = tree_state(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_superres("upscale", path, "-o", out, *UPSCALE)
    assert result.code == CASES[name][1], result.err
    assert_only_added_under(before, tree_state(tmp_path), out)
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    if result.code == 0:
        assert len(written) == 1, result.err
        if name.startswith("float"):  # finite results, not NaN (infinities become the range ends)
            assert np.isfinite(tifffile.imread(written[0])).all()
    else:
        assert not written
        assert f"error: {path}: " in result.err and f"1 of 1 inputs failed:\n  {path}: " in result.err
    said = [str(w.message) for w in caught]  # each names the input or the output it is about
    assert all(message.startswith((f"{path}: ", f"{out}/")) for message in said), said
    other = [line for line in result.err.splitlines() if not line.startswith(("warning: ", "error: ", "  "))]
    assert other in ([], ["1 of 1 inputs failed:"]), result.err


def test_a_batch_of_every_bad_file_goes_on_and_lists_each_failure(tmp_path):
    names = sorted(CASES)
    paths = _corpus(tmp_path / "in", names)
    out = tmp_path / "out"
    before = tree_state(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_superres("upscale", tmp_path / "in", "-o", out, *UPSCALE)
    assert result.code == 1
    assert_only_added_under(before, tree_state(tmp_path), out)
    failing = [path for path, name in zip(paths, names, strict=True) if CASES[name][1] == 1]
    summary = result.err.split(f"{len(failing)} of {len(names)} inputs failed:\n", 1)[1].splitlines()
    assert sorted(line.strip().split(": ", 1)[0] for line in summary) == sorted(map(str, failing))
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == len(names) - len(failing)
    said = [str(w.message) for w in caught]
    assert all(message.startswith((f"{tmp_path / 'in'}/", f"{out}/")) for message in said), said
