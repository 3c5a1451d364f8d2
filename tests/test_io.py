"""Every image mode round-trips through `superres upscale` with the right mode, bit depth
and metadata. The bicubic model keeps flat colours exact, so values can be checked."""

from __future__ import annotations

import re
import struct
import warnings
from dataclasses import replace

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from superres.cli import main
from superres.errors import SuperresError
from superres.io import ImageData, Resolution, read_image, write_image
from tests.conftest import smooth_image


def _upscale(src, out_dir, *extra):
    assert main(["upscale", str(src), "-o", str(out_dir), "-m", "bicubic", "-s", "2", "-q", *extra]) == 0


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize(
    ("mode", "expected_mode"),
    [("RGB", "RGB"), ("RGBA", "RGBA"), ("L", "L"), ("LA", "LA"), ("P", "RGB"), ("1", "L")],
)
def test_8bit_png_modes(tmp_path, mode, expected_mode):
    base = Image.fromarray(smooth_image(16, 20, 4))  # RGBA
    if mode in ("P", "1"):
        base = base.convert("RGB")  # an opaque palette image
    src = tmp_path / "in.png"
    base.convert(mode).save(src)
    _upscale(src, tmp_path / "out")
    out = Image.open(tmp_path / "out/in_x2.png")
    assert out.mode == expected_mode and out.size == (40, 32)


def test_palette_with_transparency_becomes_rgba(tmp_path):
    im = Image.new("P", (10, 8), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (5, 0, 10, 8))
    src = tmp_path / "pal.png"
    im.save(src, transparency=0)
    _upscale(src, tmp_path)
    out = np.array(Image.open(tmp_path / "pal_x2.png"))
    assert out.shape == (16, 20, 4)
    assert out[:, :6, 3].max() == 0 and out[:, 14:, 3].min() == 255  # transparent left, opaque right


def test_alpha_is_upscaled_separately_and_reattached(tmp_path):
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:, 6:, 3] = 255
    src = tmp_path / "a.png"
    Image.fromarray(rgba).save(src)
    _upscale(src, tmp_path)
    out = np.array(Image.open(tmp_path / "a_x2.png"))
    assert (out[..., :3] == (200, 100, 50)).all()  # colour unaffected by alpha
    assert out[:, :10, 3].max() == 0 and out[:, 14:, 3].min() == 255


def test_16bit_gray_png_stays_16bit(tmp_path):
    src = tmp_path / "g16.png"
    Image.fromarray(np.full((10, 12), 40_000, np.uint16)).save(src)
    _upscale(src, tmp_path)
    out = Image.open(tmp_path / "g16_x2.png")
    assert out.mode == "I;16" and out.size == (24, 20)
    assert (np.array(out) == 40_000).all()


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_rgb_and_rgba_png_stay_16bit_with_icc(tmp_path, channels):
    pixels = np.empty((8, 10, channels), np.uint16)
    pixels[...] = (40_000, 1_001, 65_535, 30_000)[:channels]
    icc = _srgb_icc()
    src = tmp_path / "c16.png"
    write_image(src, ImageData(pixels, channels == 4, icc_profile=icc))
    _upscale(src, tmp_path)
    out = read_image(tmp_path / "c16_x2.png")
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (16, 20, channels)
    assert (out.pixels == pixels[0, 0]).all()
    assert out.icc_profile == icc and out.has_alpha == (channels == 4)


def test_icc_profile_and_exif_carried_and_orientation_applied(tmp_path):
    pixels = smooth_image(20, 40)  # stored 40 wide, 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "TestCam"  # Make
    icc = _srgb_icc()
    src = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(src, exif=exif, icc_profile=icc, quality=95)
    for ext in ("jpg", "png", "webp", "tif"):
        _upscale(src, tmp_path / ext, "--ext", ext)
        result = tmp_path / ext / f"photo_x2.{ext}"
        out = read_image(result)
        assert out.pixels.shape[:2] == (80, 40), ext  # displayed 20x40 -> 40x80
        assert out.icc_profile == icc, ext
        carried = Image.open(result).getexif()
        assert carried.get(0x010F) == "TestCam" and carried.get(0x0112, 1) == 1, ext


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    src = tmp_path / "cmyk.jpg"
    Image.fromarray(smooth_image(10, 10)).convert("CMYK").save(src)
    _upscale(src, tmp_path)
    out = Image.open(tmp_path / "cmyk_x2.jpg")
    assert out.mode == "RGB" and out.size == (20, 20)


@pytest.mark.parametrize("ext", ["bmp", "webp", "jpeg"])
def test_format_follows_the_output_extension(tmp_path, ext):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(10, 12)).save(src)
    _upscale(src, tmp_path, "--ext", ext)
    assert Image.open(tmp_path / f"in_x2.{ext}").format == {"jpeg": "JPEG", "bmp": "BMP", "webp": "WEBP"}[ext]


@pytest.mark.parametrize(
    ("mode", "ext"), [("RGBA", "tga"), ("LA", "tga"), ("RGB", "tga"), ("L", "pgm"), ("RGB", "ppm")]
)
def test_tga_and_netpbm_round_trip(tmp_path, mode, ext):
    pixels = Image.fromarray(smooth_image(9, 13)).convert(mode)
    src = tmp_path / f"in.{ext}"
    pixels.save(src)
    _upscale(src, tmp_path / "out")
    result = tmp_path / "out" / f"in_x2.{ext}"
    with Image.open(result) as out:
        assert out.format == ("TGA" if ext == "tga" else "PPM") and out.mode == mode and out.size == (26, 18)
    assert read_image(result).pixels.shape[2] == len(mode)


@pytest.mark.parametrize(("maxval", "channels"), [(65535, 3), (4095, 3), (65535, 1)])
def test_deep_netpbm_stays_16_bit(tmp_path, maxval, channels):
    """Pillow reads a deep P6 as 8-bit RGB; superres keeps its samples (scaled to 16 bits, as
    Pillow scales a deep P5) and writes them back as 16-bit (failed before: no PPM at all)."""
    pixels = np.full((4, 5, channels), (maxval, maxval // 3, 7)[:channels], np.uint16)
    src = tmp_path / ("in.ppm" if channels == 3 else "in.pgm")
    magic = b"P6" if channels == 3 else b"P5"
    src.write_bytes(magic + b"\n# made by hand\n5 4\n%d\n" % maxval + pixels.astype(">u2").tobytes())
    expected = (pixels.astype(np.uint32) * 65535 + maxval // 2) // maxval
    assert (read_image(src).pixels == expected).all()
    _upscale(src, tmp_path / "out")
    out = read_image(tmp_path / "out" / f"in_x2{src.suffix}")
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (8, 10, channels)
    assert (out.pixels == expected[0, 0]).all()
    src.write_bytes(src.read_bytes()[:-4])
    with pytest.raises(
        SuperresError, match="in.ppm: truncated or corrupt image" if channels == 3 else "in.pgm"
    ):
        read_image(src)


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
    """BMP and GIF dropped a photo's EXIF and ICC profile without a word (failed before)."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    image = ImageData(
        smooth_image(6, 6),
        False,
        _srgb_icc(),
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
        _upscale(src, tmp_path, "--ext", "jpg")
    out = np.array(Image.open(tmp_path / "deep_x2.jpg"))
    assert out.dtype == np.uint8 and out.min() >= 254


def test_tiff_16bit_rgb_with_icc(tmp_path):
    pixels = np.full((6, 8, 3), (12_345, 50_000, 7), np.uint16)
    icc = _srgb_icc()
    src = tmp_path / "rgb16.tif"
    write_image(src, ImageData(pixels, icc_profile=icc))
    _upscale(src, tmp_path)
    out = read_image(tmp_path / "rgb16_x2.tif")
    assert out.pixels.dtype == np.uint16 and (out.pixels == (12_345, 50_000, 7)).all()
    assert out.icc_profile == icc


def test_tiff_float_gray_keeps_type_and_range(tmp_path):
    pixels = np.linspace(-3.0, 5.0, 10 * 12, dtype=np.float32).reshape(10, 12)
    src = tmp_path / "dem.tif"
    tifffile.imwrite(src, pixels)
    _upscale(src, tmp_path)
    out = tifffile.imread(tmp_path / "dem_x2.tif")
    assert out.dtype == np.float32 and out.shape == (20, 24)
    assert out.min() >= -3.0 - 1e-4 and out.max() <= 5.0 + 1e-4 and out.max() - out.min() > 7.5


def test_tiff_multiband_uint16_keeps_every_band(tmp_path):
    bands = np.stack([np.full((8, 8), 1000 * (b + 1), np.uint16) for b in range(5)], axis=-1)
    src = tmp_path / "ms.tif"
    tifffile.imwrite(src, bands, photometric="minisblack", planarconfig="contig")
    _upscale(src, tmp_path)
    out = tifffile.imread(tmp_path / "ms_x2.tif")
    assert out.shape == (16, 16, 5) and out.dtype == np.uint16
    assert [int(out[..., b].mean()) for b in range(5)] == [1000, 2000, 3000, 4000, 5000]


def test_tiff_pages_are_all_upscaled_and_kept_as_pages(tmp_path):
    """A multi-page TIFF (tifffile's default for a 3-D gray array) used to come out as its
    first page alone, silently."""
    pages = np.stack([np.full((8, 10), 1000 * (p + 1), np.uint16) for p in range(5)])
    tifffile.imwrite(tmp_path / "stack.tif", pages)
    assert tifffile.TiffFile(tmp_path / "stack.tif").series[0].axes == "QYX"
    _upscale(tmp_path / "stack.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/stack_x2.tif") as tif:
        assert (tif.series[0].axes, tif.series[0].shape) == ("QYX", (5, 16, 20))
        out = tif.series[0].asarray()
    assert out.dtype == np.uint16 and [int(p.mean()) for p in out] == [1000, 2000, 3000, 4000, 5000]


def test_imagej_hyperstack_stays_one(tmp_path):
    planes = np.arange(6, dtype=np.uint16).reshape(3, 2, 1, 1) * 1000 + np.zeros((3, 2, 6, 8), np.uint16)
    tifffile.imwrite(tmp_path / "zc.tif", planes, imagej=True, metadata={"axes": "ZCYX"})
    _upscale(tmp_path / "zc.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/zc_x2.tif") as tif:
        assert tif.is_imagej and (tif.series[0].axes, tif.series[0].shape) == ("ZCYX", (3, 2, 12, 16))
        out = tif.series[0].asarray()
    assert (out == planes[:, :, :1, :1]).all()


def test_rgb_pages_each_go_through_the_network_as_rgb(tmp_path):
    from superres.api import upscale_image
    from superres.models import load_model

    pages = np.stack([smooth_image(12, 14, 3), smooth_image(12, 14, 3)[::-1]])
    tifffile.imwrite(tmp_path / "rgb.tif", pages, photometric="rgb")
    image = read_image(tmp_path / "rgb.tif")
    assert image.stack.pages == 2 and image.color_channels == 3
    model = load_model("compact-x2")
    out = upscale_image(model, image)
    for p in range(2):
        alone = upscale_image(model, read_image(tmp_path / "rgb.tif").page(p)).pixels
        assert np.array_equal(out.page(p).pixels, alone)


def test_a_stack_is_refused_outside_tiff_and_counted_whole_against_the_pixel_limit(tmp_path):
    from superres.errors import SuperresError

    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((4, 10, 10), np.uint8), photometric="minisblack")
    image = read_image(tmp_path / "stack.tif")
    with pytest.raises(SuperresError, match="a stack of 4 pages can only be written as TIFF"):
        write_image(tmp_path / "stack.png", image)
    with pytest.raises(SuperresError, match="10x10 x 4 pages = 400 pixels, over the limit of 399"):
        read_image(tmp_path / "stack.tif", max_pixels=399)
    assert read_image(tmp_path / "stack.tif", max_pixels=400).pixels.shape == (10, 10, 4)


def _animation(path, loop=0):
    """Three smooth 32x24 frames with a transparent corner, shown 80, 120 and 200 ms."""
    frames = []
    for seed in range(3):
        pixels = smooth_image(24, 32, channels=4, seed=seed)
        pixels[..., 3] = 255
        pixels[:3, :3, 3] = 0
        frames.append(Image.fromarray(pixels))
    options = ({} if loop is None else {"loop": loop}) | (
        {"lossless": True} if path.suffix == ".webp" else {}
    )
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[80, 120, 200], **options)


def _frames(path):
    with Image.open(path) as im:
        found = []
        for index in range(im.n_frames):
            im.seek(index)
            im.load()
            found.append((np.asarray(im.convert("RGBA")), im.info.get("duration")))
        return found, im.info.get("loop"), im.size


@pytest.mark.parametrize("ext", ["gif", "webp", "png"])
def test_animations_keep_every_frame_their_timing_and_loop(tmp_path, ext):
    """Animated GIF, WebP and PNG gave their first frame alone (with a warning); now each
    frame is upscaled and written back with its duration, as close to that frame upscaled
    alone as a still image of the format comes (GIF's palette and lossy WebP lose some
    colour; APNG none)."""
    from superres.api import upscale_image
    from superres.models import load_model

    _animation(tmp_path / f"anim.{ext}")
    image = read_image(tmp_path / f"anim.{ext}")
    assert image.stack.pages == 3 and image.has_alpha and image.animation.durations == (80, 120, 200)
    _upscale(tmp_path / f"anim.{ext}", tmp_path / "out")
    found, loop, size = _frames(tmp_path / f"out/anim_x2.{ext}")
    assert size == (64, 48) and loop == 0 and [round(d) for _, d in found] == [80, 120, 200]
    model = load_model("bicubic", scale=2)
    for index, (pixels, _) in enumerate(found):
        alone = upscale_image(model, image.page(index))
        write_image(tmp_path / f"still.{ext}", alone)
        still = np.asarray(Image.open(tmp_path / f"still.{ext}").convert("RGBA"))
        opaque = alone.pixels[..., 3] == 255

        def error(frame, opaque=opaque, alone=alone):
            return np.abs(frame.astype(int) - alone.pixels)[..., :3][opaque].mean()

        assert error(pixels) <= error(still) + 0.5, (error(pixels), error(still))
        assert error(pixels) == 0 or ext != "png"
        assert ((pixels[..., 3] == 0) == (alone.pixels[..., 3] < 128)).mean() > 0.97  # the transparent corner


def test_a_gif_that_plays_once_still_plays_once(tmp_path):
    _animation(tmp_path / "once.gif", loop=None)
    assert read_image(tmp_path / "once.gif").animation.loop is None
    _upscale(tmp_path / "once.gif", tmp_path / "out")
    assert _frames(tmp_path / "out/once_x2.gif")[1] is None  # no NETSCAPE loop extension
    _upscale(tmp_path / "once.gif", tmp_path / "out", "--ext", "webp")
    assert _frames(tmp_path / "out/once_x2.webp")[1] == 1  # WebP's count for once


def test_an_animation_outside_its_formats(tmp_path, capsys):
    """JPEG cannot hold one: refused before the upscale, naming the input. TIFF keeps the
    frames as pages, with a warning that their timing is lost. Frames count against the
    pixel limit."""
    from superres.errors import SuperresError

    _animation(tmp_path / "anim.gif")
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


def test_a_jpeg_holding_two_images_gives_its_first_with_a_warning(tmp_path):
    """An MPO (a camera's stereo or depth pair in a .jpg) is not an animation."""
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "pair.jpg", format="MPO", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match=r"pair\.jpg: holds 2 images; only the first is upscaled"):
        image = read_image(tmp_path / "pair.jpg")
    assert image.animation is None and np.abs(image.pixels.astype(int) - 10).max() <= 2


def test_cmyk_tiff_stays_cmyk(tmp_path):
    """Its ink planes used to come out as a gray image with three unnamed extra bands."""
    from superres.errors import SuperresError

    inks = np.full((6, 8, 4), (10, 60, 110, 160), np.uint8)
    tifffile.imwrite(tmp_path / "print.tif", inks, photometric="separated")
    _upscale(tmp_path / "print.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/print_x2.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.SEPARATED
        assert (tif.asarray() == (10, 60, 110, 160)).all() and tif.asarray().shape == (12, 16, 4)
    with pytest.raises(SuperresError, match="a CMYK image can only be written as TIFF"):
        write_image(tmp_path / "print.png", read_image(tmp_path / "print.tif"))


def _geotiff(path, pixels, raster_type, nodata=None, transformation=None):
    """A GeoTIFF with 10 m pixels whose top-left pixel (corner or centre, by raster type)
    lies at easting 500000, northing 4000000."""
    keys = (1, 1, 0, 1, 1025, 0, 1, raster_type)
    tags = [(34735, "H", len(keys), keys, True)]
    if transformation:
        matrix = (10.0, 0, 0, 500000.0, 0, -10.0, 0, 4000000.0, 0, 0, 0, 0, 0, 0, 0, 1)
        tags.append((34264, "d", 16, matrix, True))
    else:
        tiepoint = (0, 0, 0, 500000.0, 4000000.0, 0)
        tags += [(33550, "d", 3, (10.0, 10.0, 0.0), True), (33922, "d", 6, tiepoint, True)]
    if nodata is not None:
        tags.append((42113, "s", 0, nodata, True))
    tifffile.imwrite(path, pixels, extratags=tags)


def _map_xy(tif, col, row):
    """Map coordinates of raster position (col, row) from a file's GeoTIFF tags."""
    tags = tif.pages[0].tags
    if 34264 in tags:
        m = np.array(tags[34264].value).reshape(4, 4)
        return tuple((m @ [col, row, 0, 1])[:2])
    (sx, sy, _), tie = tags[33550].value, tags[33922].value
    return tie[3] + (col - tie[0]) * sx, tie[4] - (row - tie[1]) * sy


@pytest.mark.parametrize("transformation", [False, True])
@pytest.mark.parametrize("raster_type", [1, 2])  # PixelIsArea, PixelIsPoint
def test_geotiff_keeps_its_place_on_the_ground(tmp_path, raster_type, transformation):
    """The georeferencing used to be dropped. Upscaled x2, pixels are 5 m, and the map point
    of the old top-left pixel's corner (area) or centre (point) is unchanged."""
    _geotiff(tmp_path / "dem.tif", np.zeros((6, 8), np.uint16), raster_type, transformation=transformation)
    _upscale(tmp_path / "dem.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/dem_x2.tif") as tif:
        assert tif.pages[0].tags[34735].value == (1, 1, 0, 1, 1025, 0, 1, raster_type)
        old_origin = (0.0, 0.0) if raster_type == 1 else (0.5, 0.5)  # new raster coords of old (0, 0)
        assert np.allclose(_map_xy(tif, *old_origin), (500000.0, 4000000.0))
        step = np.subtract(_map_xy(tif, old_origin[0] + 1, old_origin[1] + 1), (500000.0, 4000000.0))
        assert np.allclose(step, (5.0, -5.0))


def test_nodata_stays_nodata_and_out_of_the_value_range(tmp_path):
    """GDAL's no-data value (-9999) used to be part of the value range: the image was squashed
    into a sliver of it, and the upscaled edge of the hole leaked far below the real data."""
    heights = np.linspace(1000, 2000, 12 * 16).reshape(12, 16).astype(np.int16)
    heights[:4, :4] = -9999
    _geotiff(tmp_path / "dem.tif", heights, 1, nodata="-9999")
    _upscale(tmp_path / "dem.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/dem_x2.tif") as tif:
        assert tif.pages[0].tags[42113].value == "-9999"
        out = tif.asarray()
    hole = np.zeros(out.shape, bool)
    hole[:8, :8] = True
    assert (out[hole] == -9999).all()
    assert out[~hole].min() >= 990 and out[~hole].max() <= 2010


def test_nan_stays_nan(tmp_path):
    values = np.linspace(0, 1, 8 * 10, dtype=np.float32).reshape(8, 10)
    values[2, 3] = np.nan
    tifffile.imwrite(tmp_path / "refl.tif", values)
    _upscale(tmp_path / "refl.tif", tmp_path / "out")
    out = tifffile.imread(tmp_path / "out/refl_x2.tif")
    assert np.array_equal(np.argwhere(np.isnan(out)), [[4, 6], [4, 7], [5, 6], [5, 7]])


def test_georeferencing_dropped_outside_tiff_is_said(tmp_path):
    _geotiff(tmp_path / "map.tif", np.zeros((6, 8), np.uint8), 1)
    with pytest.warns(UserWarning, match=r"map\.png: PNG cannot hold the input's georeferencing"):
        write_image(tmp_path / "map.png", read_image(tmp_path / "map.tif"))


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "bmp"])
def test_resolution_grows_with_the_pixels(tmp_path, ext):
    """A 300-dpi scan upscaled x2 is 600 dpi, the same print size; the DPI used to be lost."""
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / f"scan.{ext}", dpi=(300, 150))
    _upscale(tmp_path / f"scan.{ext}", tmp_path / "out")
    out = read_image(tmp_path / f"out/scan_x2.{ext}").resolution
    assert out.unit == "inch" and np.allclose((out.x, out.y), (600, 300), atol=0.1)


def test_exif_resolution_agrees_with_the_new_dpi(tmp_path):
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = 300, 300, 2
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / "photo.jpg", dpi=(300, 300), exif=exif)
    _upscale(tmp_path / "photo.jpg", tmp_path / "out")
    out = Image.open(tmp_path / "out/photo_x2.jpg").getexif()
    assert (float(out[0x011A]), float(out[0x011B])) == (600.0, 600.0)


@pytest.mark.parametrize("ext", ["jpg", "tif"])
def test_keep_dpi_keeps_the_dpi_and_a_larger_print(tmp_path, ext):
    """For printing larger: the DPI (and EXIF's resolution tags) stay as they were."""
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = 300, 300, 2
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / f"photo.{ext}", dpi=(300, 300), exif=exif)
    _upscale(tmp_path / f"photo.{ext}", tmp_path / "out", "--keep-dpi")
    out = read_image(tmp_path / f"out/photo_x2.{ext}")
    assert out.pixels.shape[:2] == (16, 20) and np.allclose(
        (out.resolution.x, out.resolution.y), 300, atol=0.1
    )
    tags = Image.open(tmp_path / f"out/photo_x2.{ext}").getexif()
    assert (float(tags[0x011A]), float(tags[0x011B])) == (300.0, 300.0)


def test_keep_dpi_leaves_a_microscope_calibration_rescaled(tmp_path):
    tifffile.imwrite(tmp_path / "cells.tif", np.zeros((3, 6, 8), np.uint16), imagej=True,
                     resolution=(2.0, 2.0), metadata={"axes": "ZYX", "unit": "um"})  # fmt: skip
    _upscale(tmp_path / "cells.tif", tmp_path / "out", "--keep-dpi")
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
    _upscale(tmp_path / "cells.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/cells_x2.tif") as tif:
        assert np.allclose(tif.pages[0].resolution, (4.0, 4.0))
        assert tif.imagej_metadata["unit"] == "um" and tif.imagej_metadata["spacing"] == 2.0


def test_tiff_planar_and_rgba(tmp_path):
    planar = np.stack([np.full((6, 6), v, np.uint8) for v in (10, 20, 30)])
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    rgba = np.full((6, 6, 4), (1, 2, 3, 255), np.uint8)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=("unassalpha",))
    assert read_image(tmp_path / "planar.tif").pixels.shape == (6, 6, 3)
    assert read_image(tmp_path / "rgba.tif").has_alpha
    _upscale(tmp_path / "rgba.tif", tmp_path / "out")
    out = read_image(tmp_path / "out/rgba_x2.tif")
    assert out.has_alpha and (out.pixels == (1, 2, 3, 255)).all()


def test_multiband_cannot_be_written_as_png(tmp_path):
    from superres.errors import SuperresError

    with pytest.raises(SuperresError, match="only be written as TIFF"):
        write_image(tmp_path / "x.png", ImageData(np.zeros((4, 4, 5), np.uint8)))


def test_row_bands_regroup_into_tile_rows():
    from superres.io import _regrouped_rows

    image = np.arange(100 * 3).reshape(100, 3)
    heights = [5, 40, 1, 30, 24]  # bands of any heights, as a page's row bands come
    bands = np.split(image, np.cumsum(heights)[:-1])
    groups = list(_regrouped_rows(bands, 16))
    assert [len(g) for g in groups] == [16] * 6 + [4]
    assert np.array_equal(np.concatenate(groups), image)


def _large_tiff_inputs(tmp_path):
    """A GeoTIFF with no-data, a 16-bit RGBA TIFF with ICC and resolution, a float TIFF with NaN."""
    heights = np.linspace(1000, 2000, 40 * 70).reshape(40, 70).astype(np.int16)
    heights[30:, :9] = -9999
    _geotiff(tmp_path / "dem.tif", heights, 1, nodata="-9999")
    rgba = np.concatenate([smooth_image(40, 70, 3), np.full((40, 70, 1), 200, np.uint8)], axis=2)
    tifffile.imwrite(
        tmp_path / "scan.tif",
        rgba.astype(np.uint16) * 16,
        photometric="rgb",
        extrasamples=("unassalpha",),
        iccprofile=_srgb_icc(),
        resolution=(300, 300),
        resolutionunit=2,
    )
    values = smooth_image(40, 70, 1)[:, :, 0].astype(np.float32) / 255
    values[5, 7] = np.nan
    tifffile.imwrite(tmp_path / "refl.tif", values)
    return ["dem", "scan", "refl"]


@pytest.mark.parametrize(("outscale", "suffix"), [([], "x2"), (["--outscale", "3"], "x3")])
def test_a_tiff_result_larger_than_a_row_band_is_written_band_by_band(
    tmp_path, monkeypatch, outscale, suffix
):
    """A TIFF result was held whole before it was written (a 13,000-pixel-square input at x4:
    about 8 GB at 8 bits). Past one row band it is now written as tiles while the bands are
    made, with the pixels and tags the one-piece write gives, resized bands included."""
    from superres import api, io
    from superres.engine import rows

    names = _large_tiff_inputs(tmp_path)
    _upscale(tmp_path / "*.tif", tmp_path / "piece", "--tile", "32", *outscale)
    monkeypatch.setattr(rows, "ROW_BAND_BYTES", 1)  # bands of 16 input rows: 32 output rows
    monkeypatch.setattr(io, "TIFF_TILE", 48)  # regrouped into 48-row tiles: carries between bands
    monkeypatch.setattr(api, "upscale_image", None)  # never the whole result
    _upscale(tmp_path / "*.tif", tmp_path / "bands", "--tile", "32", *outscale)
    compared = (262, 277, 282, 283, 296, 338, 33550, 33922, 34675, 34735, 42113)
    for name in names:
        with (
            tifffile.TiffFile(tmp_path / f"piece/{name}_{suffix}.tif") as one,
            tifffile.TiffFile(tmp_path / f"bands/{name}_{suffix}.tif") as banded,
        ):
            assert banded.pages[0].is_tiled and banded.pages[0].tilelength == 48
            # float samples (refl) agree to float rounding: the network ran on other windows
            assert np.allclose(one.asarray(), banded.asarray(), rtol=0, atol=1e-6, equal_nan=True)
            assert name == "refl" or np.array_equal(one.asarray(), banded.asarray())
            tags = [
                {c: p.tags[c].value for c in compared if c in p.tags} for p in (one.pages[0], banded.pages[0])
            ]
            assert tags[0] == tags[1] and len(tags[0]) >= 5


def _png_inputs(tmp_path):
    """8-bit RGB with ICC, EXIF, DPI, XMP and a text chunk; 16-bit RGBA; 8-bit gray+alpha."""
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_itxt("parameters", "a cat, 20 steps")
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    Image.fromarray(smooth_image(40, 70)).save(
        tmp_path / "photo.png", icc_profile=_srgb_icc(), exif=exif, dpi=(300, 300), pnginfo=text,
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>",
    )  # fmt: skip
    rgba = np.concatenate([smooth_image(40, 70, 3), np.full((40, 70, 1), 200, np.uint8)], axis=2)
    write_image(tmp_path / "deep.png", ImageData(rgba.astype(np.uint16) * 257, has_alpha=True))
    Image.fromarray(smooth_image(40, 70, 2), "LA").save(tmp_path / "mask.png")
    return ["photo", "deep", "mask"]


@pytest.mark.parametrize(("outscale", "suffix"), [([], "x2"), (["--outscale", "3"], "x3")])
def test_a_png_result_larger_than_a_row_band_is_written_band_by_band(tmp_path, monkeypatch, outscale, suffix):
    """A PNG result was held whole before it was written. Past one row band it is now
    filtered and deflated as the bands are made: the pixels and metadata of the one-piece
    write (Pillow, or imagecodecs for 16-bit colour), in a file of about the same size."""
    from superres import api
    from superres.engine import rows

    names = _png_inputs(tmp_path)
    _upscale(tmp_path / "*.png", tmp_path / "piece", "--tile", "32", *outscale)
    monkeypatch.setattr(rows, "ROW_BAND_BYTES", 1)  # bands of 16 input rows
    monkeypatch.setattr(api, "upscale_image", None)  # never the whole result
    _upscale(tmp_path / "*.png", tmp_path / "bands", "--tile", "32", *outscale)
    for name in names:
        one, banded = (tmp_path / f"{folder}/{name}_{suffix}.png" for folder in ("piece", "bands"))
        pixels = [read_image(path).pixels.astype(int) for path in (one, banded)]
        # 16-bit: a resized band's float32 sums may round a sample the other way (6 of 100,800)
        assert np.abs(pixels[0] - pixels[1]).max() <= (1 if name == "deep" else 0)
        with Image.open(one) as a, Image.open(banded) as b:
            assert (a.mode, a.size) == (b.mode, b.size)
            for key in ("icc_profile", "exif", "dpi", "parameters", "xmp"):
                assert a.info.get(key) == b.info.get(key), (name, key)
        assert banded.stat().st_size < 1.1 * one.stat().st_size
    with (
        Image.open(tmp_path / "photo.png") as source,
        Image.open(tmp_path / f"bands/photo_{suffix}.png") as photo,
    ):
        assert photo.info["parameters"] == "a cat, 20 steps"
        assert photo.info["icc_profile"] == source.info["icc_profile"]


@pytest.mark.parametrize("ext", ["tif", "png"])
def test_a_failure_mid_way_through_row_bands_leaves_no_file(tmp_path, monkeypatch, ext):
    from superres import api
    from superres.engine import rows
    from superres.models import load_model

    _large_tiff_inputs(tmp_path)
    monkeypatch.setattr(rows, "ROW_BAND_BYTES", 1)
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return run_bands(*args)

    run_bands = rows.run_bands
    monkeypatch.setattr(rows, "run_bands", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        api.upscale_file(load_model("bicubic", scale=2), tmp_path / "scan.tif", tmp_path / f"out.{ext}")
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == [
        "dem.tif",
        "refl.tif",
        "scan.tif",
    ]


def test_a_tiff_with_more_than_one_series_says_only_the_first_is_upscaled(tmp_path):
    """Pages of another size (here a thumbnail) form other series, which were dropped silently."""
    with tifffile.TiffWriter(tmp_path / "scan.tif") as tif:
        tif.write(smooth_image(24, 32), photometric="rgb")
        tif.write(smooth_image(6, 8), photometric="rgb")
    with pytest.warns(UserWarning, match=r"scan\.tif: holds 2 image series; only the first \(24x32x3 YXS\)"):
        _upscale(tmp_path / "scan.tif", tmp_path / "out")
    assert read_image(tmp_path / "out/scan_x2.tif").pixels.shape == (48, 64, 3)


def _camera_exif() -> bytes:
    """EXIF as a camera writes it: make in IFD0, exposure and date in the Exif sub-IFD, GPS."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8769).update({0x829A: 0.004, 0x9003: "2024:01:01 10:00:00"})
    exif.get_ifd(0x8825)[2] = (52.0, 13.0, 0.0)
    return exif.tobytes()


def _camera_fields(path) -> tuple:
    exif = Image.open(path).getexif()
    return exif.get(0x010F), exif.get_ifd(0x8769).get(0x9003), exif.get_ifd(0x8825).get(2)


CAMERA_FIELDS = ("TestCam", "2024:01:01 10:00:00", (52.0, 13.0, 0.0))


def test_a_camera_jpeg_upscales_to_tiff_with_all_of_its_exif(tmp_path):
    """A JPEG whose EXIF has an Exif sub-IFD (every camera's) failed as TIFF output: libtiff,
    behind Pillow's compressed TIFFs, refuses the sub-IFD ("Error setting from dictionary")."""
    Image.fromarray(smooth_image(20, 24)).save(tmp_path / "photo.jpg", exif=_camera_exif())
    _upscale(tmp_path / "photo.jpg", tmp_path / "out", "--ext", "tif")
    assert _camera_fields(tmp_path / "out/photo_x2.tif") == CAMERA_FIELDS
    assert read_image(tmp_path / "out/photo_x2.tif").pixels.shape == (40, 48, 3)


def test_a_tiffs_exif_is_read_and_carried(tmp_path):
    """EXIF inside TIFF inputs was not read: a scan's or camera TIFF's make, dates and GPS
    were lost whatever the output format."""
    Image.fromarray(smooth_image(20, 24)).save(tmp_path / "scan.tif", exif=_camera_exif())
    for ext in ("tif", "jpg", "png"):
        _upscale(tmp_path / "scan.tif", tmp_path / ext, "--ext", ext)
        assert _camera_fields(tmp_path / ext / f"scan_x2.{ext}") == CAMERA_FIELDS, ext
    # Only the descriptive tags and sub-IFDs become EXIF, not the file's own structure.
    carried = Image.Exif()
    carried.load(read_image(tmp_path / "scan.tif").exif)
    assert set(carried) <= {0x010F, 0x8769, 0x8825}


def test_exif_that_a_tiff_cannot_carry_is_said_to_be_dropped(tmp_path):
    """16-bit colour TIFFs (tifffile) lost all EXIF; they now keep its descriptive tags (make,
    model, date, artist, copyright) and say that camera settings and GPS are dropped."""
    rgb16 = smooth_image(20, 24).astype(np.uint16) * 257
    image = ImageData(rgb16, exif=_camera_exif())
    with pytest.warns(
        UserWarning,
        match=r"x\.tif: the input's EXIF camera settings and GPS are not carried into a TIFF of 3 uint16",
    ):
        write_image(tmp_path / "x.tif", image)
    with tifffile.TiffFile(tmp_path / "x.tif") as tif:
        assert tif.pages[0].tags[271].value == "TestCam"  # Make
    exif = Image.Exif()
    exif[0x010F], exif[0x8298] = "TestCam", "(c) Someone"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped
        write_image(tmp_path / "y.tif", ImageData(rgb16, exif=exif.tobytes()))
    read_back = Image.Exif()
    read_back.load(read_image(tmp_path / "y.tif").exif)
    assert (read_back[0x010F], read_back[0x8298]) == ("TestCam", "(c) Someone")


def _ome_tiff(path, planes: np.ndarray, axes: str, images: int = 1) -> None:
    """An OME-TIFF with 0.5 um pixels and named channels, edited the way microscope software
    writes them: a TiffData UUID naming this file and a ROI in pixel coordinates."""
    metadata = {"axes": axes, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeXUnit": "µm"}
    tifffile.imwrite(path, planes, ome=True, metadata=metadata | {"Channel": {"Name": ["DAPI", "GFP"]}})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    uuid = f'<UUID FileName="{path.name}">urn:uuid:00000000-0000-0000-0000-000000000001</UUID>'
    xml = xml.replace('PlaneCount="2"/>', f'PlaneCount="2">{uuid}</TiffData>')
    xml = xml.replace("</Pixels>", '</Pixels><ROIRef ID="ROI:0"/>')
    xml = xml.replace(
        "</OME>", '<ROI ID="ROI:0"><Union><Point ID="Shape:0" X="3" Y="4"/></Union></ROI></OME>'
    )
    if images > 1:
        image = xml[xml.index("<Image ") : xml.index("</Image>") + len("</Image>")]
        xml = xml.replace("</Image>", "</Image>" + image.replace("Image:0", "Image:1"), 1)
    tifffile.tiffcomment(path, xml.encode("ascii", "xmlcharrefreplace"))


def test_ome_tiff_keeps_its_metadata_with_the_pixel_size_rescaled(tmp_path):
    """An OME-TIFF (microscopy) came out as a plain TIFF: no pixel size, no channel names."""
    planes = np.stack([np.full((6, 8), 1000, np.uint16), np.full((6, 8), 3000, np.uint16)])
    _ome_tiff(tmp_path / "cells.ome.tif", planes, "CYX")
    _upscale(tmp_path / "cells.ome.tif", tmp_path / "out", "--outscale", "3")
    with tifffile.TiffFile(tmp_path / "out/cells_x3.ome.tif") as tif:
        assert tif.is_ome and (tif.series[0].axes, tif.series[0].shape) == ("CYX", (2, 18, 24))
        out, xml = tif.series[0].asarray(), tif.ome_metadata
    assert [int(p.mean()) for p in out] == [1000, 3000]  # channel order kept
    ome = tifffile.xml2dict(xml)["OME"]
    pixels = ome["Image"]["Pixels"]
    assert (pixels["SizeX"], pixels["SizeY"]) == (24, 18)
    assert pixels["PhysicalSizeX"] == pytest.approx(0.5 / 3) and pixels["PhysicalSizeXUnit"] == "µm"
    assert [c["Name"] for c in pixels["Channel"]] == ["DAPI", "GFP"]
    assert "ROI" not in ome and "UUID" not in str(pixels["TiffData"])  # pixel coordinates; the input's name
    assert (
        ome["UUID"]
        != tifffile.xml2dict(tifffile.TiffFile(tmp_path / "cells.ome.tif").ome_metadata)["OME"]["UUID"]
    )


def test_an_ome_tiff_written_in_row_bands_keeps_its_metadata(tmp_path, monkeypatch):
    from superres import api
    from superres.engine import rows

    image = smooth_image(40, 24, 1)[:, :, 0].astype(np.uint16) * 16
    tifffile.imwrite(tmp_path / "g.ome.tif", image, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 2.0})
    monkeypatch.setattr(rows, "ROW_BAND_BYTES", 1)
    monkeypatch.setattr(api, "upscale_image", None)  # never the whole result
    _upscale(tmp_path / "g.ome.tif", tmp_path / "out", "--tile", "16")
    with tifffile.TiffFile(tmp_path / "out/g_x2.ome.tif") as tif:
        assert tif.is_ome and tif.pages[0].is_tiled and tif.series[0].shape == (80, 48)
        assert tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]["PhysicalSizeX"] == 1.0


def test_ome_xml_of_several_images_or_outside_tiff_is_said_to_be_dropped(tmp_path):
    planes = np.zeros((2, 6, 8), np.uint16)
    _ome_tiff(tmp_path / "two.ome.tif", planes, "CYX", images=2)
    with pytest.warns(UserWarning) as caught:
        read_image(tmp_path / "two.ome.tif")
    said = " | ".join(str(w.message) for w in caught)
    assert "holds 2 image series" in said and "its OME-XML describes 2 images; it is not carried over" in said
    _ome_tiff(tmp_path / "one.ome.tif", planes[:1], "CYX")
    image = read_image(tmp_path / "one.ome.tif")
    assert image.ome_xml is not None
    with pytest.warns(UserWarning, match="PNG cannot hold the input's OME-XML metadata"):
        write_image(tmp_path / "one.png", image)


def _insert_jp2_box(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """A JP2 file with one more top-level box just before its codestream box."""
    at = data.index(b"jp2c") - 4
    return data[:at] + struct.pack(">I4s", 8 + len(payload), kind) + payload + data[at:]


@pytest.mark.parametrize("ext", ["jp2", "j2k"])
def test_jpeg2000_keeps_12_and_16_bit_samples(tmp_path, ext):
    """JPEG 2000 (Sentinel-2 bands, medical images) was not read at all; Pillow alone would
    reduce 12-bit colour to 8 bits. Written back losslessly at 16 bits."""
    import imagecodecs

    colour = np.zeros((10, 12, 3), np.uint16) + np.array([1000, 2000, 4000], np.uint16)
    gray = np.full((10, 12), 50_000, np.uint16)
    for name, pixels in (("colour", colour), ("gray", gray)):
        codec = "jp2" if ext == "jp2" else "j2k"
        (tmp_path / f"{name}.{ext}").write_bytes(
            imagecodecs.jpeg2k_encode(pixels, level=0, codecformat=codec)
        )
    _upscale(tmp_path / f"*.{ext}", tmp_path / "out")
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
    _upscale(tmp_path / "p.avif", tmp_path / "out")
    with Image.open(tmp_path / "out/p_x2.avif") as im:
        assert (im.format, im.size) == ("AVIF", (20, 16)) and im.getexif()[0x010F] == "Camera maker"
        assert abs(np.asarray(im).astype(int) - 120).max() <= 2  # lossy, flat


def _heic(path, pixels: np.ndarray, exif: Image.Exif | None = None) -> None:
    """A HEIC file, written without registering pillow-heif's Pillow plugin in this process."""
    import pillow_heif

    options = {"exif": exif.tobytes()} if exif is not None else {}
    pillow_heif.from_pillow(Image.fromarray(pixels)).save(path, quality=95, **options)


def test_heic_photos_are_read_upright_with_their_exif(tmp_path):
    """iPhone photos (HEIC) were refused as "not an image file"; they are read upright and
    written back as HEIC (or another format). A fresh process, as a user's run: nothing has
    registered pillow-heif's plugin with Pillow before superres reads."""
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
    """An HDR camera's 10-bit HEIF and a 10-bit AVIF were read as 8 bits without a word; they
    are read at their depth (scaled to 16 bits) and a HEIC result is written at 10 bits."""
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
        _upscale(tmp_path / name, tmp_path / "out", "--ext", "png")
        out = read_image(tmp_path / "out" / name.replace(".heic", "_x2.png").replace(".avif", "_x2.png"))
        assert out.pixels.dtype == np.uint16 and out.pixels.shape == (16, 20, 3)
        assert np.abs(out.pixels.astype(int) - expected[0, 0]).max() <= 3 * 64, (
            name
        )  # lossy: 3 levels of 10 bits
    _upscale(tmp_path / "hdr.hif.heic", tmp_path / "out")
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

    from superres.errors import SuperresError

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
    """XMP (keywords, captions, ratings, rights from Lightroom or digiKam) was dropped; it is
    carried, with the image size and resolution it records updated."""
    from PIL.PngImagePlugin import PngInfo

    pixels = Image.fromarray(smooth_image(8, 10, 3))
    if source == "png":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", _XMP)
        pixels.save(tmp_path / "p.png", pnginfo=info, dpi=(300, 300))
    else:
        pixels.save(tmp_path / f"p.{source}", xmp=_XMP.encode(), dpi=(300, 300))
    _upscale(tmp_path / f"p.{source}", tmp_path / "out", "--ext", target)
    xmp = read_image(tmp_path / f"out/p_x2.{target}").xmp.decode()
    assert "<rdf:li>grandmother</rdf:li>" in xmp and 'tiff:ImageWidth="20"' in xmp
    assert "<exif:PixelXDimension>20</exif:PixelXDimension>" in xmp
    assert 'tiff:XResolution="300/1"' not in xmp or source == "webp"  # WebP records no DPI


def test_png_text_such_as_generation_parameters_is_carried_into_png(tmp_path):
    """A PNG's text chunks (Stable Diffusion's "parameters", a title) were dropped."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a lighthouse at dusk, Steps: 30")
    info.add_itxt("Title", "Phare — soir")
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / "gen.png", pnginfo=info)
    image = read_image(tmp_path / "gen.png")
    deep = replace(image, pixels=image.pixels.astype(np.uint16) * 257)
    write_image(tmp_path / "deep.png", deep)  # the 16-bit writer
    for name in ("gen", "deep"):
        _upscale(tmp_path / f"{name}.png", tmp_path / "out")
        with Image.open(tmp_path / f"out/{name}_x2.png") as im:
            assert (
                im.text["parameters"] == "a lighthouse at dusk, Steps: 30"
                and im.text["Title"] == "Phare — soir"
            )
    with pytest.warns(UserWarning, match=r"PNG text \(Title, parameters\) is not carried into JPEG"):
        _upscale(tmp_path / "gen.png", tmp_path / "jpeg", "--ext", "jpg")


def test_exif_pixel_dimensions_follow_the_result(tmp_path):
    """A camera's EXIF says how many pixels it wrote; the upscaled file kept saying it."""
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003] = 10, 8
    Image.fromarray(smooth_image(8, 10, 3)).save(tmp_path / "photo.jpg", exif=exif, xmp=_XMP.encode())
    _upscale(tmp_path / "photo.jpg", tmp_path / "out")
    camera = Image.open(tmp_path / "out/photo_x2.jpg").getexif().get_ifd(0x8769)
    assert (camera[0xA002], camera[0xA003]) == (20, 16)
    _upscale(tmp_path / "photo.jpg", tmp_path / "tiff", "--ext", "tif")  # EXIF: the TIFF goes through Pillow
    image = read_image(tmp_path / "tiff/photo_x2.tif")
    camera = Image.Exif()
    camera.load(image.exif)
    assert camera.get_ifd(0x8769)[0xA002] == 20 and b"<rdf:li>grandmother</rdf:li>" in image.xmp


def test_truncated_jpeg2000_heic_and_avif_say_so(tmp_path):
    """A cut JP2 failed with the codec's own error name, a cut HEIC or AVIF as "not an image"."""
    import imagecodecs

    from superres.errors import SuperresError

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


def test_jpeg_quality_is_read_from_the_quantisation_table(tmp_path):
    """The quality a JPEG was saved at, from its header; None for other files and for
    files that are not images."""
    from superres.io import jpeg_quality

    pixels = smooth_image(32, 48)
    for quality in (20, 60, 75, 95, 100):
        Image.fromarray(pixels).save(tmp_path / f"q{quality}.jpg", quality=quality)
        assert jpeg_quality(tmp_path / f"q{quality}.jpg") == quality
    Image.fromarray(pixels[:, :, 0]).save(tmp_path / "gray.jpg", quality=70)
    assert jpeg_quality(tmp_path / "gray.jpg") == 70
    Image.fromarray(pixels).save(tmp_path / "a.png")
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg")
    assert jpeg_quality(tmp_path / "a.png") is None and jpeg_quality(tmp_path / "junk.jpg") is None


@pytest.mark.parametrize(("writer", "name"), [("write_tiff_rows", "out.tif"), ("write_png_rows", "out.png")])
def test_row_writers_refuse_bands_of_the_wrong_height_and_leave_no_file(tmp_path, monkeypatch, writer, name):
    """TIFF bands past the image's height were dropped without a word: tifffile stops asking
    for tiles at the last one, so the count was never checked. Both writers now refuse."""
    from superres import io

    monkeypatch.setattr(io, "TIFF_TILE", 16)  # tiles end with the 32nd row, before the 3rd band
    image = ImageData(np.zeros((32, 5, 3), np.uint8))
    for count in (1, 3):  # 16 rows: too few; 48: too many
        bands = [np.zeros((16, 5, 3), np.uint8)] * count
        with pytest.raises(ValueError, match=f"row bands held {16 * count} rows, the image 32"):
            getattr(io, writer)(tmp_path / name, image, iter(bands))
        assert list(tmp_path.iterdir()) == []
