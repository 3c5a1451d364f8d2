"""read_image: the reader chosen by the first bytes (JPEG 2000, HEIC, AVIF) and its one-line errors."""

from __future__ import annotations

import re
import struct
import warnings

import numpy as np
import pytest
from PIL import Image

from superres.errors import SuperresError
from superres.io import ImageData, read_image, write_image
from tests.conftest import smooth_image
from tests.io.conftest import upscale


def _insert_jp2_box(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """A JP2 file with one more top-level box just before its codestream box."""
    at = data.index(b"jp2c") - 4
    return data[:at] + struct.pack(">I4s", 8 + len(payload), kind) + payload + data[at:]


@pytest.mark.parametrize("ext", ["jp2", "j2k"])
def test_jpeg2000_keeps_12_and_16_bit_samples(tmp_path, ext):
    """JPEG 2000 (Sentinel-2 bands, medical images) is read at its depth (Pillow alone would
    reduce 12-bit colour to 8 bits) and written back losslessly at 16 bits."""
    import imagecodecs

    colour = np.zeros((10, 12, 3), np.uint16) + np.array([1000, 2000, 4000], np.uint16)
    gray = np.full((10, 12), 50_000, np.uint16)
    for name, pixels in (("colour", colour), ("gray", gray)):
        codec = "jp2" if ext == "jp2" else "j2k"
        (tmp_path / f"{name}.{ext}").write_bytes(
            imagecodecs.jpeg2k_encode(pixels, level=0, codecformat=codec)
        )
    upscale(tmp_path / f"*.{ext}", tmp_path / "out")
    for name, pixels in (("colour", colour), ("gray", gray)):
        out = imagecodecs.jpeg2k_decode((tmp_path / f"out/{name}_x2.{ext}").read_bytes())
        assert out.dtype == np.uint16 and out.shape[:2] == (20, 24)
        assert (out == pixels[:1, :1]).all()  # a flat image stays exact through bicubic


def test_jpeg2000_metadata_boxes_are_said_to_be_dropped(tmp_path):
    import imagecodecs

    plain = imagecodecs.jpeg2k_encode(np.zeros((8, 8), np.uint8), level=0, codecformat="jp2")
    (tmp_path / "geo.jp2").write_bytes(_insert_jp2_box(plain, b"xml ", b"<gml:FeatureCollection/>"))
    with pytest.warns(UserWarning, match=r"geo\.jp2: its JPEG 2000 metadata boxes .* are not carried over"):
        read_image(tmp_path / "geo.jp2")
    (tmp_path / "plain.jp2").write_bytes(plain)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "plain.jp2").pixels.shape == (8, 8, 1)


def test_avif_is_read_and_written_with_its_exif(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    Image.fromarray(np.full((8, 10, 3), 120, np.uint8)).save(tmp_path / "p.avif", exif=exif, quality=95)
    upscale(tmp_path / "p.avif", tmp_path / "out")
    with Image.open(tmp_path / "out/p_x2.avif") as im:
        assert (im.format, im.size) == ("AVIF", (20, 16)) and im.getexif()[0x010F] == "Camera maker"
        assert abs(np.asarray(im).astype(int) - 120).max() <= 2  # lossy, flat


def _heic(path, pixels: np.ndarray, exif: Image.Exif | None = None) -> None:
    """A HEIC file, written without registering pillow-heif's Pillow plugin in this process."""
    import pillow_heif

    options = {"exif": exif.tobytes()} if exif is not None else {}
    pillow_heif.from_pillow(Image.fromarray(pixels)).save(path, quality=95, **options)


@pytest.mark.slow
def test_heic_photos_are_read_upright_with_their_exif(tmp_path):
    """iPhone photos (HEIC) are read upright and written back as HEIC (or another format). In
    a fresh process, as a user's run: nothing has registered pillow-heif's plugin with Pillow
    before superres reads."""
    import subprocess
    import sys

    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Apple"  # rotate 90 degrees to display
    _heic(tmp_path / "IMG_0001.HEIC", smooth_image(10, 16), exif)
    command = [sys.executable, "-m", "superres", "upscale", str(tmp_path / "IMG_0001.HEIC"), "-o"]
    command += [str(tmp_path / "out"), "-m", "bicubic", "-s", "2", "-q"]
    assert subprocess.run([*command, "--ext", "png"], capture_output=True, text=True).returncode == 0
    with Image.open(tmp_path / "out/IMG_0001_x2.png") as im:
        assert im.size == (20, 32) and im.getexif()[0x010F] == "Apple" and im.getexif()[0x0112] == 1
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0  # HEIC stays HEIC
    image = read_image(tmp_path / "out/IMG_0001_x2.HEIC")
    exif = Image.Exif()
    exif.load(image.exif)
    assert image.pixels.shape == (32, 20, 3) and exif[0x010F] == "Apple"


def test_10_bit_heic_and_avif_stay_deep(tmp_path):
    """An HDR camera's 10-bit HEIF and a 10-bit AVIF are read at their depth (scaled to 16
    bits), not as Pillow's 8 bits, and a HEIC result is written at 10 bits."""
    import imagecodecs
    import pillow_heif

    native = np.zeros((8, 10, 3), np.uint16) + np.array([700, 301, 1023], np.uint16)  # flat, 10-bit
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(10, 8), data=(native << 6).tobytes())
    heif.save(tmp_path / "hdr.hif.heic", quality=-1, chroma=444, exif=exif.tobytes())
    (tmp_path / "hdr.avif").write_bytes(imagecodecs.avif_encode(native, level=100, bitspersample=10))
    expected = (native.astype(np.uint32) * 65535 + 511) // 1023
    for name in ("hdr.hif.heic", "hdr.avif"):
        assert read_image(tmp_path / name).pixels.dtype == np.uint16
        upscale(tmp_path / name, tmp_path / "out", "--ext", "png")
        out = read_image(tmp_path / "out" / name.replace(".heic", "_x2.png").replace(".avif", "_x2.png"))
        assert out.pixels.dtype == np.uint16 and out.pixels.shape == (16, 20, 3)
        assert np.abs(out.pixels.astype(int) - expected[0, 0]).max() <= 3 * 64, (
            name
        )  # lossy: 3 levels of 10 bits
    upscale(tmp_path / "hdr.hif.heic", tmp_path / "out")
    result = pillow_heif.open_heif(tmp_path / "out/hdr.hif_x2.heic", convert_hdr_to_8bit=False)
    assert result.info["bit_depth"] == 10 and b"Canon" in result.info["exif"]
    deep = ImageData(np.full((4, 4, 3), 40_000, np.uint16), source_format="PNG")
    with pytest.warns(UserWarning, match=r"HEIC is written with 10 bits per sample"):
        write_image(tmp_path / "from_png.heic", deep)
    assert (
        pillow_heif.open_heif(tmp_path / "from_png.heic", convert_hdr_to_8bit=False).info["bit_depth"] == 10
    )


def test_heic_without_pillow_heif_says_what_to_install(tmp_path, monkeypatch):
    import sys

    _heic(tmp_path / "p.heic", smooth_image(10, 16))
    Image.fromarray(smooth_image(10, 16)).save(tmp_path / "a.avif")
    data = (tmp_path / "a.avif").read_bytes()
    assert data[8:12] == b"avif"  # AVIF in the same container, major brand mif1 as some encoders write
    (tmp_path / "a.avif").write_bytes(data[:8] + b"mif1" + data[12:])
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails
    with pytest.raises(SuperresError, match=r"p\.heic: HEIC/HEIF needs the pillow-heif package"):
        read_image(tmp_path / "p.heic")
    with pytest.raises(SuperresError, match=r"out\.heic: HEIC/HEIF needs the pillow-heif package"):
        write_image(tmp_path / "out.heic", ImageData(smooth_image(10, 16)))
    assert read_image(tmp_path / "a.avif").pixels.shape == (10, 16, 3)  # no pillow-heif needed


def test_truncated_jpeg2000_heic_and_avif_say_so(tmp_path):
    """A cut JP2 failed with the codec's own error name, a cut HEIC or AVIF as "not an image"."""
    import imagecodecs

    jp2 = imagecodecs.jpeg2k_encode(smooth_image(40, 40), level=0, codecformat="jp2")
    (tmp_path / "cut.jp2").write_bytes(jp2[:300])
    _heic(tmp_path / "full.heic", smooth_image(40, 40))
    (tmp_path / "cut.heic").write_bytes((tmp_path / "full.heic").read_bytes()[:400])
    Image.fromarray(smooth_image(40, 40)).save(tmp_path / "full.avif")
    (tmp_path / "cut.avif").write_bytes((tmp_path / "full.avif").read_bytes()[:300])
    for name, reason in (
        ("cut.jp2", "truncated or corrupt image ("),
        ("cut.heic", "truncated or corrupt HEIF/AVIF"),
    ):
        with pytest.raises(SuperresError, match=rf"{re.escape(name)}: {re.escape(reason)}"):
            read_image(tmp_path / name)
    with pytest.raises(SuperresError, match=r"cut\.avif: truncated or corrupt HEIF/AVIF"):
        read_image(tmp_path / "cut.avif")


def test_infinite_float_samples_are_said_to_become_the_range_ends(tmp_path):
    """+-Inf in a float TIFF is upscaled as the largest / smallest finite values: said, naming the file."""
    import tifffile

    tifffile.imwrite(tmp_path / "inf.tif", np.array([[0, np.inf], [-np.inf, 5]], np.float32))
    said = r"inf\.tif: holds infinite samples \(\+-Inf\); they are upscaled as"
    with pytest.warns(UserWarning, match=said):
        read_image(tmp_path / "inf.tif")


def _png_with_chunk(kind: bytes, data: bytes) -> bytes:
    import io
    import zlib

    buffer = io.BytesIO()
    Image.fromarray(smooth_image(6, 8)).save(buffer, "PNG")
    plain = buffer.getvalue()
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
    return plain[:33] + chunk + plain[33:]


def test_a_decoder_warning_names_the_file(tmp_path):
    """Pillow's bare "Corrupt EXIF data" warning about a broken eXIf chunk reaches the user
    naming the file, as superres' own warnings do."""
    (tmp_path / "odd.png").write_bytes(_png_with_chunk(b"eXIf", b"MM\0*\0\0\0\x08\xff\xff"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(tmp_path / "odd.png")
    assert image.pixels.shape == (6, 8, 3)
    shown = [str(w.message) for w in caught]
    assert shown and all(message.startswith(f"{tmp_path / 'odd.png'}: ") for message in shown), shown


def test_a_truncated_16bit_colour_png_is_a_one_line_read_error(tmp_path):
    """imagecodecs' own error for a cut-off 16-bit RGB PNG is the usual SuperresError."""
    import imagecodecs

    encoded = imagecodecs.png_encode(np.full((12, 16, 3), 40_000, np.uint16))
    (tmp_path / "cut.png").write_bytes(encoded[: len(encoded) // 2])
    with pytest.raises(SuperresError, match=r"cut\.png: truncated or corrupt image \("):
        read_image(tmp_path / "cut.png")
