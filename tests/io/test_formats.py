"""What each output format holds: the format follows the extension, and what it cannot hold
is refused or said to be dropped."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from superres.cli import main
from superres.errors import SuperresError
from superres.io import ImageData, Resolution, read_image, write_image
from tests.conftest import smooth_image
from tests.io.conftest import srgb_icc, upscale, write_animation


@pytest.mark.parametrize("ext", ["bmp", "webp", "jpeg"])
def test_format_follows_the_output_extension(tmp_path, ext):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(10, 12)).save(src)
    upscale(src, tmp_path, "--ext", ext)
    assert Image.open(tmp_path / f"in_x2.{ext}").format == {"jpeg": "JPEG", "bmp": "BMP", "webp": "WEBP"}[ext]


@pytest.mark.parametrize(
    ("ext", "dropped"),
    [
        ("bmp", "EXIF, XMP or ICC profile"),
        ("gif", "EXIF, XMP or ICC profile"),
        ("tga", "EXIF, XMP, ICC profile or DPI"),
        ("ppm", "EXIF, XMP, ICC profile or DPI"),
        ("jp2", "EXIF, XMP, ICC profile or DPI"),
    ],
)
def test_metadata_a_format_cannot_carry_is_said_to_be_dropped(tmp_path, ext, dropped):
    """A format that cannot hold a photo's EXIF or ICC profile (BMP, GIF, ...) says which it drops."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    image = ImageData(
        smooth_image(6, 6),
        False,
        srgb_icc(),
        exif.tobytes(),
        "JPEG",
        resolution=Resolution(300.0, 300.0),
        xmp=b"<x/>",
    )
    with pytest.warns(UserWarning, match=rf"m\.{ext}: .* output does not carry the input's {dropped}$"):
        write_image(tmp_path / f"m.{ext}", image)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say for a format that keeps it all
        write_image(tmp_path / "m.png", image)


def test_16bit_to_jpeg_warns_and_reduces_depth(tmp_path):
    src = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 65_535, np.uint16)).save(src)
    with pytest.warns(UserWarning, match="reduced to 8 bits"):
        upscale(src, tmp_path, "--ext", "jpg")
    out = np.array(Image.open(tmp_path / "deep_x2.jpg"))
    assert out.dtype == np.uint8 and out.min() >= 254


def test_a_stack_is_refused_outside_tiff_and_counted_whole_against_the_pixel_limit(tmp_path):

    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((4, 10, 10), np.uint8), photometric="minisblack")
    image = read_image(tmp_path / "stack.tif")
    with pytest.raises(SuperresError, match="a stack of 4 pages can only be written as TIFF"):
        write_image(tmp_path / "stack.png", image)
    with pytest.raises(SuperresError, match="10x10 x 4 pages = 400 pixels, over the limit of 399"):
        read_image(tmp_path / "stack.tif", max_pixels=399)
    assert read_image(tmp_path / "stack.tif", max_pixels=400).pixels.shape == (10, 10, 4)


def test_an_animation_outside_its_formats(tmp_path, capsys):
    """JPEG cannot hold one: refused before the upscale, naming the input. TIFF keeps the
    frames as pages, with a warning that their timing is lost. Frames count against the
    pixel limit."""

    write_animation(tmp_path / "anim.gif")
    args = ["upscale", str(tmp_path / "anim.gif"), "-m", "bicubic", "-s", "2", "-q"]
    assert main([*args, "-o", str(tmp_path / "anim.jpg")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'anim.gif'}: an animation of 3 frames can only be written as GIF" in err
    assert not (tmp_path / "anim.jpg").exists()
    with pytest.warns(UserWarning, match="TIFF keeps the frames as pages but not their timing"):
        assert main([*args, "-o", str(tmp_path / "anim.tif")]) == 0
    assert tifffile.imread(tmp_path / "anim.tif").shape == (3, 48, 64, 4)
    with pytest.raises(SuperresError, match="32x24 x 3 pages = 2,304 pixels, over the limit of 2,303"):
        read_image(tmp_path / "anim.gif", max_pixels=2303)


def test_multiband_cannot_be_written_as_png(tmp_path):

    with pytest.raises(SuperresError, match="only be written as TIFF"):
        write_image(tmp_path / "x.png", ImageData(np.zeros((4, 4, 5), np.uint8)))


@pytest.mark.parametrize(
    ("ext", "dpi"),
    [("png", 2.2e8), ("bmp", 2.2e8), ("jpg", 70_000.0), ("tif", 1e12), ("png", float("inf"))],
)
def test_a_dpi_the_format_cannot_hold_is_dropped_with_a_warning(tmp_path, ext, dpi):
    """A DPI past what the format stores (a hostile pHYs of 0xFFFFFFFF doubled by the upscale,
    or a BMP's negative pixels per metre read as unsigned) is dropped, not an OverflowError
    or a silently wrapped value."""
    image = ImageData(smooth_image(6, 6), resolution=Resolution(dpi, dpi))
    with pytest.warns(UserWarning, match=rf"m\.{ext}: the DPI \(.*\) is more than .* holds; it is dropped"):
        write_image(tmp_path / f"m.{ext}", image)
    with Image.open(tmp_path / f"m.{ext}") as im:
        dpi_read = im.info.get("dpi")
        assert dpi_read is None or round(dpi_read[0]) in (72, 96)  # none, or the format's default
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ordinary DPI: kept, nothing said
        ordinary = ImageData(smooth_image(6, 6), resolution=Resolution(600.0, 600.0))
        write_image(tmp_path / f"ok.{ext}", ordinary)
    with Image.open(tmp_path / f"ok.{ext}") as im:
        assert round(im.info["dpi"][0]) == 600
