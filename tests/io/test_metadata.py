"""ICC, EXIF, XMP, PNG text and resolution carried, and updated for the new size."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tifffile
from PIL import Image

from superres.io import ImageData, Resolution, read_image, write_image
from tests.conftest import smooth_image
from tests.io.conftest import srgb_icc, upscale


def test_icc_profile_and_exif_carried_and_orientation_applied(tmp_path):
    pixels = smooth_image(20, 40)  # stored 40 wide, 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "TestCam"  # Make
    icc = srgb_icc()
    src = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(src, exif=exif, icc_profile=icc, quality=95)
    for ext in ("jpg", "png", "webp", "tif"):
        upscale(src, tmp_path / ext, "--ext", ext)
        result = tmp_path / ext / f"photo_x2.{ext}"
        out = read_image(result)
        assert out.pixels.shape[:2] == (80, 40), ext  # displayed 20x40 -> 40x80
        assert out.icc_profile == icc, ext
        carried = Image.open(result).getexif()
        assert carried.get(0x010F) == "TestCam" and carried.get(0x0112, 1) == 1, ext


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "bmp"])
def test_resolution_grows_with_the_pixels(tmp_path, ext):
    """A 300-dpi scan upscaled x2 is 600 dpi, the same print size."""
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / f"scan.{ext}", dpi=(300, 150))
    upscale(tmp_path / f"scan.{ext}", tmp_path / "out")
    out = read_image(tmp_path / f"out/scan_x2.{ext}").resolution
    assert out.unit == "inch" and np.allclose((out.x, out.y), (600, 300), atol=0.1)


def test_exif_resolution_agrees_with_the_new_dpi(tmp_path):
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = 300, 300, 2
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / "photo.jpg", dpi=(300, 300), exif=exif)
    upscale(tmp_path / "photo.jpg", tmp_path / "out")
    out = Image.open(tmp_path / "out/photo_x2.jpg").getexif()
    assert (float(out[0x011A]), float(out[0x011B])) == (600.0, 600.0)


@pytest.mark.parametrize("ext", ["jpg", "tif"])
def test_keep_dpi_keeps_the_dpi_and_a_larger_print(tmp_path, ext):
    """For printing larger: the DPI (and EXIF's resolution tags) stay as they were."""
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = 300, 300, 2
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / f"photo.{ext}", dpi=(300, 300), exif=exif)
    upscale(tmp_path / f"photo.{ext}", tmp_path / "out", "--keep-dpi")
    out = read_image(tmp_path / f"out/photo_x2.{ext}")
    assert out.pixels.shape[:2] == (16, 20) and np.allclose(
        (out.resolution.x, out.resolution.y), 300, atol=0.1
    )
    tags = Image.open(tmp_path / f"out/photo_x2.{ext}").getexif()
    assert (float(tags[0x011A]), float(tags[0x011B])) == (300.0, 300.0)


def test_keep_dpi_leaves_a_microscope_calibration_rescaled(tmp_path):
    tifffile.imwrite(tmp_path / "cells.tif", np.zeros((3, 6, 8), np.uint16), imagej=True,
                     resolution=(2.0, 2.0), metadata={"axes": "ZYX", "unit": "um"})  # fmt: skip
    upscale(tmp_path / "cells.tif", tmp_path / "out", "--keep-dpi")
    with tifffile.TiffFile(tmp_path / "out/cells_x2.tif") as tif:
        assert np.allclose(tif.pages[0].resolution, (4.0, 4.0)) and tif.imagej_metadata["unit"] == "um"


def test_16_bit_png_keeps_its_resolution(tmp_path):
    image = ImageData(smooth_image(8, 10, 3).astype(np.uint16) * 257, resolution=Resolution(300.0, 300.0))
    write_image(tmp_path / "deep.png", image)
    assert np.allclose(read_image(tmp_path / "deep.png").resolution.x, 300, atol=0.1)


def test_imagej_calibration_is_rescaled_in_x_and_y_only(tmp_path):
    """0.5 um pixels and 2 um slices: upscaled x2, 0.25 um pixels and still 2 um slices."""
    planes = np.zeros((3, 6, 8), np.uint16)
    tifffile.imwrite(
        tmp_path / "cells.tif",
        planes,
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"axes": "ZYX", "unit": "um", "spacing": 2.0},
    )
    upscale(tmp_path / "cells.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/cells_x2.tif") as tif:
        assert np.allclose(tif.pages[0].resolution, (4.0, 4.0))
        assert tif.imagej_metadata["unit"] == "um" and tif.imagej_metadata["spacing"] == 2.0


_XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
    ' xmlns:exif="http://ns.adobe.com/exif/1.0/" tiff:ImageWidth="10" tiff:XResolution="300/1">'
    "<exif:PixelXDimension>10</exif:PixelXDimension><dc:subject><rdf:Bag><rdf:li>grandmother</rdf:li>"
    '</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


@pytest.mark.parametrize(
    ("source", "target"), [("jpg", "jpg"), ("png", "png"), ("webp", "tif"), ("jpg", "avif")]
)
def test_xmp_keywords_are_carried_with_the_size_updated(tmp_path, source, target):
    """XMP (keywords, captions, ratings, rights from Lightroom or digiKam) is carried, with
    the image size and resolution it records updated."""
    from PIL.PngImagePlugin import PngInfo

    pixels = Image.fromarray(smooth_image(8, 10, 3))
    if source == "png":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", _XMP)
        pixels.save(tmp_path / "p.png", pnginfo=info, dpi=(300, 300))
    else:
        pixels.save(tmp_path / f"p.{source}", xmp=_XMP.encode(), dpi=(300, 300))
    upscale(tmp_path / f"p.{source}", tmp_path / "out", "--ext", target)
    xmp = read_image(tmp_path / f"out/p_x2.{target}").xmp.decode()
    assert "<rdf:li>grandmother</rdf:li>" in xmp and 'tiff:ImageWidth="20"' in xmp
    assert "<exif:PixelXDimension>20</exif:PixelXDimension>" in xmp
    assert 'tiff:XResolution="300/1"' not in xmp or source == "webp"  # WebP records no DPI


def test_png_text_such_as_generation_parameters_is_carried_into_png(tmp_path):
    """A PNG's text chunks (Stable Diffusion's "parameters", a title) are carried into PNG, and
    said to be dropped elsewhere."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a lighthouse at dusk, Steps: 30")
    info.add_itxt("Title", "Phare — soir")
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / "gen.png", pnginfo=info)
    image = read_image(tmp_path / "gen.png")
    deep = replace(image, pixels=image.pixels.astype(np.uint16) * 257)
    write_image(tmp_path / "deep.png", deep)  # the 16-bit writer
    for name in ("gen", "deep"):
        upscale(tmp_path / f"{name}.png", tmp_path / "out")
        with Image.open(tmp_path / f"out/{name}_x2.png") as im:
            assert (
                im.text["parameters"] == "a lighthouse at dusk, Steps: 30"
                and im.text["Title"] == "Phare — soir"
            )
    with pytest.warns(UserWarning, match=r"PNG text \(Title, parameters\) is not carried into JPEG"):
        upscale(tmp_path / "gen.png", tmp_path / "jpeg", "--ext", "jpg")


def test_exif_pixel_dimensions_follow_the_result(tmp_path):
    """A camera's EXIF says how many pixels it wrote; the upscaled file kept saying it."""
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003] = 10, 8
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / "photo.jpg", exif=exif, xmp=_XMP.encode())
    upscale(tmp_path / "photo.jpg", tmp_path / "out")
    camera = Image.open(tmp_path / "out/photo_x2.jpg").getexif().get_ifd(0x8769)
    assert (camera[0xA002], camera[0xA003]) == (20, 16)
    upscale(tmp_path / "photo.jpg", tmp_path / "tiff", "--ext", "tif")  # EXIF: the TIFF goes through Pillow
    image = read_image(tmp_path / "tiff/photo_x2.tif")
    camera = Image.Exif()
    camera.load(image.exif)
    assert camera.get_ifd(0x8769)[0xA002] == 20 and b"<rdf:li>grandmother</rdf:li>" in image.xmp


@pytest.mark.parametrize(
    "orientation",
    ['<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="3"/>',
     '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/"><tiff:Orientation>3</tiff:Orientation>'
     "</rdf:Description>"],
    ids=["attribute", "element"],
)  # fmt: skip
def test_an_xmp_orientation_is_applied_once_and_reset(tmp_path, orientation):
    """A PNG whose orientation lives only in XMP is turned, and its XMP then says 1: a viewer
    that honours XMP does not turn the result again."""
    from PIL.PngImagePlugin import PngInfo

    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{orientation}</rdf:RDF></x:xmpmeta>"
    )
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    pixels = smooth_image(6, 8)
    Image.fromarray(pixels).save(tmp_path / "turned.png", pnginfo=info)
    image = read_image(tmp_path / "turned.png")
    assert (image.pixels == pixels[::-1, ::-1]).all()
    assert b"Orientation" in image.xmp and b"3" not in image.xmp.split(b"Orientation")[1][:4]
    upscale(tmp_path / "turned.png", tmp_path / "out")
    with Image.open(tmp_path / "out/turned_x2.png") as im:
        written = im.info["xmp"]
        written = written.decode() if isinstance(written, bytes) else written
        assert 'tiff:Orientation="1"' in written or "<tiff:Orientation>1</tiff:Orientation>" in written


def _camera_exif(maker_note: bytes) -> tuple[bytes, int]:
    """Big-endian EXIF laid out as a camera does (slack between blocks, which re-encoding
    would close up): orientation 6, 72 dpi, an Exif IFD with the pixel size (8 x 6) and a
    MakerNote; and where the MakerNote starts, counted from the TIFF header."""
    import struct

    def entry(tag, kind, count, value):  # value: 4 bytes, inline or an offset
        return struct.pack(">HHI", tag, kind, count) + value

    ifd0_at, res_at, exif_at = 8, 80, 120
    note_at = exif_at + 2 + 3 * 12 + 4 + 24  # the Exif IFD, then 24 bytes of slack
    ifd0 = struct.pack(">H", 5) + b"".join([
        entry(0x0112, 3, 1, struct.pack(">HH", 6, 0)),
        entry(0x011A, 5, 1, struct.pack(">I", res_at)),
        entry(0x011B, 5, 1, struct.pack(">I", res_at + 8)),
        entry(0x0128, 3, 1, struct.pack(">HH", 2, 0)),
        entry(0x8769, 4, 1, struct.pack(">I", exif_at)),
    ]) + struct.pack(">I", 0)  # fmt: skip
    camera = struct.pack(">H", 3) + b"".join([
        entry(0xA002, 4, 1, struct.pack(">I", 8)),
        entry(0xA003, 4, 1, struct.pack(">I", 6)),
        entry(0x927C, 7, len(maker_note), struct.pack(">I", note_at)),
    ]) + struct.pack(">I", 0)  # fmt: skip
    tiff = bytearray(note_at + len(maker_note))
    tiff[:8] = b"MM\0*" + struct.pack(">I", ifd0_at)
    tiff[ifd0_at : ifd0_at + len(ifd0)] = ifd0
    tiff[res_at : res_at + 16] = struct.pack(">IIII", 72, 1, 72, 1)
    tiff[exif_at : exif_at + len(camera)] = camera
    tiff[note_at:] = maker_note
    return b"Exif\0\0" + bytes(tiff), note_at


def test_a_maker_note_keeps_its_place_in_the_exif(tmp_path):
    """Orientation, resolution and pixel size are changed where they stand, so a MakerNote
    whose inner offsets count from the EXIF's TIFF header (as many makers' do) still points
    at its own data (re-encoding the EXIF would move the MakerNote)."""
    import struct

    maker_note = b"Nikon\0\x01\0" + struct.pack(">I", 0) + bytes(range(40))
    exif, note_at = _camera_exif(maker_note)
    Image.fromarray(smooth_image(6, 8)).save(tmp_path / "camera.jpg", exif=exif)
    upscale(tmp_path / "camera.jpg", tmp_path / "out")
    with Image.open(tmp_path / "out/camera_x2.jpg") as im:
        written = im.info["exif"]
        parsed = im.getexif()
    start = len(b"Exif\0\0") + note_at
    assert written[start : start + len(maker_note)] == maker_note and len(written) == len(exif)
    assert parsed[0x0112] == 1 and float(parsed[0x011A]) == 144.0
    assert parsed.get_ifd(0x8769)[0xA002] == 12 and parsed.get_ifd(0x8769)[0xA003] == 16  # turned 6 x 8
