"""TIFF read and written: sample types, bands, pages, ImageJ hyperstacks, CMYK, and EXIF."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from superres.errors import SuperresError
from superres.io import ImageData, read_image, write_image
from tests.conftest import CHAIN_WEIGHTS, smooth_image
from tests.io.conftest import srgb_icc, upscale


def test_tiff_16bit_rgb_with_icc(tmp_path):
    pixels = np.full((6, 8, 3), (12_345, 50_000, 7), np.uint16)
    icc = srgb_icc()
    src = tmp_path / "rgb16.tif"
    write_image(src, ImageData(pixels, icc_profile=icc))
    upscale(src, tmp_path)
    out = read_image(tmp_path / "rgb16_x2.tif")
    assert out.pixels.dtype == np.uint16 and (out.pixels == (12_345, 50_000, 7)).all()
    assert out.icc_profile == icc


def test_tiff_float_gray_keeps_type_and_range(tmp_path):
    pixels = np.linspace(-3.0, 5.0, 10 * 12, dtype=np.float32).reshape(10, 12)
    src = tmp_path / "dem.tif"
    tifffile.imwrite(src, pixels)
    upscale(src, tmp_path)
    out = tifffile.imread(tmp_path / "dem_x2.tif")
    assert out.dtype == np.float32 and out.shape == (20, 24)
    assert out.min() >= -3.0 - 1e-4 and out.max() <= 5.0 + 1e-4 and out.max() - out.min() > 7.5


def test_tiff_multiband_uint16_keeps_every_band(tmp_path):
    bands = np.stack([np.full((8, 8), 1000 * (b + 1), np.uint16) for b in range(5)], axis=-1)
    src = tmp_path / "ms.tif"
    tifffile.imwrite(src, bands, photometric="minisblack", planarconfig="contig")
    upscale(src, tmp_path)
    out = tifffile.imread(tmp_path / "ms_x2.tif")
    assert out.shape == (16, 16, 5) and out.dtype == np.uint16
    assert [int(out[..., b].mean()) for b in range(5)] == [1000, 2000, 3000, 4000, 5000]


def test_tiff_pages_are_all_upscaled_and_kept_as_pages(tmp_path):
    """Every page of a multi-page TIFF (tifffile's default for a 3-D gray array) is upscaled
    and written back as a page."""
    pages = np.stack([np.full((8, 10), 1000 * (p + 1), np.uint16) for p in range(5)])
    tifffile.imwrite(tmp_path / "stack.tif", pages)
    assert tifffile.TiffFile(tmp_path / "stack.tif").series[0].axes == "QYX"
    upscale(tmp_path / "stack.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/stack_x2.tif") as tif:
        assert (tif.series[0].axes, tif.series[0].shape) == ("QYX", (5, 16, 20))
        out = tif.series[0].asarray()
    assert out.dtype == np.uint16 and [int(p.mean()) for p in out] == [1000, 2000, 3000, 4000, 5000]


def test_imagej_hyperstack_stays_one(tmp_path):
    planes = np.arange(6, dtype=np.uint16).reshape(3, 2, 1, 1) * 1000 + np.zeros((3, 2, 6, 8), np.uint16)
    tifffile.imwrite(tmp_path / "zc.tif", planes, imagej=True, metadata={"axes": "ZCYX"})
    upscale(tmp_path / "zc.tif", tmp_path / "out")
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
    model = load_model(CHAIN_WEIGHTS / "compact-x2.safetensors")
    out = upscale_image(model, image)
    for p in range(2):
        alone = upscale_image(model, read_image(tmp_path / "rgb.tif").page(p)).pixels
        assert np.array_equal(out.page(p).pixels, alone)


def test_cmyk_tiff_stays_cmyk(tmp_path):
    """Its ink planes stay ink planes, not a gray image with three unnamed extra bands."""

    inks = np.full((6, 8, 4), (10, 60, 110, 160), np.uint8)
    tifffile.imwrite(tmp_path / "print.tif", inks, photometric="separated")
    upscale(tmp_path / "print.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/print_x2.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.SEPARATED
        assert (tif.asarray() == (10, 60, 110, 160)).all() and tif.asarray().shape == (12, 16, 4)
    with pytest.raises(SuperresError, match="a CMYK image can only be written as TIFF"):
        write_image(tmp_path / "print.png", read_image(tmp_path / "print.tif"))


def test_tiff_planar_and_rgba(tmp_path):
    planar = np.stack([np.full((6, 6), v, np.uint8) for v in (10, 20, 30)])
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    rgba = np.full((6, 6, 4), (1, 2, 3, 255), np.uint8)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=("unassalpha",))
    assert read_image(tmp_path / "planar.tif").pixels.shape == (6, 6, 3)
    assert read_image(tmp_path / "rgba.tif").has_alpha
    upscale(tmp_path / "rgba.tif", tmp_path / "out")
    out = read_image(tmp_path / "out/rgba_x2.tif")
    assert out.has_alpha and (out.pixels == (1, 2, 3, 255)).all()


def test_a_tiff_with_more_than_one_series_says_only_the_first_is_upscaled(tmp_path):
    """Pages of another size (here a thumbnail) form other series; their loss is said."""
    with tifffile.TiffWriter(tmp_path / "scan.tif") as tif:
        tif.write(smooth_image(24, 32), photometric="rgb")
        tif.write(smooth_image(6, 8), photometric="rgb")
    with pytest.warns(UserWarning, match=r"scan\.tif: holds 2 image series; only the first \(24x32x3 YXS\)"):
        upscale(tmp_path / "scan.tif", tmp_path / "out")
    assert read_image(tmp_path / "out/scan_x2.tif").pixels.shape == (48, 64, 3)


def _camera_exif() -> bytes:
    """EXIF as a camera writes it: make in IFD0, exposure and date in the Exif sub-IFD, GPS."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8769).update({0x829A: 0.004, 0x9003: "2024:01:01 10:00:00"})
    exif.get_ifd(0x8825)[2] = (52.0, 13.0, 0.0)
    return exif.tobytes()


CAMERA_FIELDS = ("TestCam", "2024:01:01 10:00:00", (52.0, 13.0, 0.0))


def _camera_fields(path) -> tuple:
    exif = Image.open(path).getexif()
    return exif.get(0x010F), exif.get_ifd(0x8769).get(0x9003), exif.get_ifd(0x8825).get(2)


def test_a_camera_jpeg_upscales_to_tiff_with_all_of_its_exif(tmp_path):
    """A JPEG whose EXIF has an Exif sub-IFD (every camera's) failed as TIFF output: libtiff,
    behind Pillow's compressed TIFFs, refuses the sub-IFD ("Error setting from dictionary")."""
    Image.fromarray(smooth_image(20, 24)).save(tmp_path / "photo.jpg", exif=_camera_exif())
    upscale(tmp_path / "photo.jpg", tmp_path / "out", "--ext", "tif")
    assert _camera_fields(tmp_path / "out/photo_x2.tif") == CAMERA_FIELDS
    assert read_image(tmp_path / "out/photo_x2.tif").pixels.shape == (40, 48, 3)


def test_a_tiffs_exif_is_read_and_carried(tmp_path):
    """The EXIF inside a TIFF input (a scan's or camera TIFF's make, dates and GPS) is read and
    carried into every output format."""
    Image.fromarray(smooth_image(20, 24)).save(tmp_path / "scan.tif", exif=_camera_exif())
    for ext in ("tif", "jpg", "png"):
        upscale(tmp_path / "scan.tif", tmp_path / ext, "--ext", ext)
        assert _camera_fields(tmp_path / ext / f"scan_x2.{ext}") == CAMERA_FIELDS, ext
    # Only the descriptive tags and sub-IFDs become EXIF, not the file's own structure.
    carried = Image.Exif()
    carried.load(read_image(tmp_path / "scan.tif").exif)
    assert set(carried) <= {0x010F, 0x8769, 0x8825}


def test_exif_that_a_tiff_cannot_carry_is_said_to_be_dropped(tmp_path):
    """16-bit colour TIFFs (tifffile) keep EXIF's descriptive tags (make, model, date, artist,
    copyright) and say that camera settings and GPS are dropped."""
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


@pytest.mark.parametrize("value", [(3, 3), (0,), (99,)])
def test_a_malformed_tiff_orientation_is_ignored_with_a_warning(tmp_path, value):
    """An Orientation tag of two values or out of 1-8 is ignored, and said so."""
    pixels = np.arange(48, dtype=np.uint8).reshape(6, 8)
    tifffile.imwrite(tmp_path / "odd.tif", pixels, extratags=[(274, "H", len(value), value, True)])
    said = r"odd\.tif: its orientation tag \(.*\) is not one of 1-8; it is ignored"
    with pytest.warns(UserWarning, match=said):
        image = read_image(tmp_path / "odd.tif")
    assert (image.pixels[:, :, 0] == pixels).all()


def test_an_int16_imagej_stack_keeps_its_calibration(tmp_path):
    """A signed 16-bit ImageJ stack is written back as one, with its unit and slice spacing,
    as an unsigned one is."""
    planes = np.arange(-48, 48, dtype=np.int16).reshape(2, 6, 8)
    tifffile.imwrite(
        tmp_path / "signed.tif", planes, imagej=True, resolution=(2.0, 2.0),
        metadata={"axes": "ZYX", "unit": "um", "spacing": 0.5},
    )  # fmt: skip
    upscale(tmp_path / "signed.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/signed_x2.tif") as tif:
        assert tif.is_imagej and tif.pages[0].dtype == np.int16
        assert tif.imagej_metadata["unit"] == "um" and tif.imagej_metadata["spacing"] == 0.5
        assert np.allclose(tif.pages[0].resolution, (4.0, 4.0))


def test_tifffile_log_lines_and_pillow_warnings_do_not_reach_the_user(tmp_path, caplog):
    """A TIFF with a tag past the end of the file is read; tifffile's log line about it and
    Pillow's bare "Truncated File Read" are not shown, only superres' own messages (naming the file)."""
    import io
    import struct

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros((8, 8), np.uint8), extratags=[(65000, "d", 3, (1.0, 2.0, 3.0), True)])
    data = bytearray(buffer.getvalue())
    entry = data.find(struct.pack("<HH", 65000, 12))
    data[entry + 8 : entry + 12] = struct.pack("<I", 10**8)  # the tag's values: far past the end
    (tmp_path / "odd.tif").write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(tmp_path / "odd.tif")
    assert image.pixels.shape == (8, 8, 1)
    assert not [record for record in caplog.records if record.name.startswith("tifffile")]
    shown = [str(w.message) for w in caught]
    assert all(message.startswith(str(tmp_path / "odd.tif")) for message in shown), shown


def test_an_imagej_slice_spacing_that_is_not_a_number_is_ignored_with_a_warning(tmp_path):
    """ImageJ metadata saying spacing=x does not reject the stack: the spacing is left out, and said."""
    planes = np.zeros((2, 6, 8), np.uint8)
    tifffile.imwrite(tmp_path / "odd.tif", planes, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": "x"})  # fmt: skip
    with pytest.warns(UserWarning, match=r"odd\.tif: its ImageJ slice spacing \('x'\) is not a number"):
        image = read_image(tmp_path / "odd.tif")
    assert image.resolution.unit == "um" and image.resolution.z_spacing is None
