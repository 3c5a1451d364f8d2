"""Results written band by band (PNG and TIFF) match the one-piece write, and wrong bands
leave no file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from superres.engine import rows as engine_rows
from superres.io import ImageData, read_image, write_image
from tests.conftest import smooth_image
from tests.io.conftest import srgb_icc, upscale, write_geotiff


def test_row_bands_regroup_into_tile_rows():
    from superres.io.rows import _regrouped_rows

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
    write_geotiff(tmp_path / "dem.tif", heights, 1, nodata="-9999")
    rgba = np.concatenate([smooth_image(40, 70, 3), np.full((40, 70, 1), 200, np.uint8)], axis=2)
    tifffile.imwrite(
        tmp_path / "scan.tif",
        rgba.astype(np.uint16) * 16,
        photometric="rgb",
        extrasamples=("unassalpha",),
        iccprofile=srgb_icc(),
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
    """A TIFF result past one row band is written as tiles while the bands are made, not held
    whole (a 13,000-pixel-square input at x4 would be about 8 GB at 8 bits), with the pixels
    and tags the one-piece write gives, resized bands included."""
    from superres import api
    from superres.io import rows

    names = _large_tiff_inputs(tmp_path)
    upscale(tmp_path / "*.tif", tmp_path / "piece", "--tile", "32", *outscale)
    monkeypatch.setattr(engine_rows, "ROW_BAND_BYTES", 1)  # bands of 16 input rows: 32 output rows
    monkeypatch.setattr(rows, "TIFF_TILE", 48)  # regrouped into 48-row tiles: carries between bands
    monkeypatch.setattr(api, "upscale_image", None)  # never the whole result
    upscale(tmp_path / "*.tif", tmp_path / "bands", "--tile", "32", *outscale)
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
        tmp_path / "photo.png", icc_profile=srgb_icc(), exif=exif, dpi=(300, 300), pnginfo=text,
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>",
    )  # fmt: skip
    rgba = np.concatenate([smooth_image(40, 70, 3), np.full((40, 70, 1), 200, np.uint8)], axis=2)
    write_image(tmp_path / "deep.png", ImageData(rgba.astype(np.uint16) * 257, has_alpha=True))
    Image.fromarray(smooth_image(40, 70, 2), "LA").save(tmp_path / "mask.png")
    return ["photo", "deep", "mask"]


@pytest.mark.parametrize(("outscale", "suffix"), [([], "x2"), (["--outscale", "3"], "x3")])
def test_a_png_result_larger_than_a_row_band_is_written_band_by_band(tmp_path, monkeypatch, outscale, suffix):
    """A PNG result past one row band is filtered and deflated as the bands are made, not
    held whole: the pixels and metadata of the one-piece write (Pillow, or imagecodecs for
    16-bit colour), in a file of about the same size."""
    from superres import api

    names = _png_inputs(tmp_path)
    upscale(tmp_path / "*.png", tmp_path / "piece", "--tile", "32", *outscale)
    monkeypatch.setattr(engine_rows, "ROW_BAND_BYTES", 1)  # bands of 16 input rows
    monkeypatch.setattr(api, "upscale_image", None)  # never the whole result
    upscale(tmp_path / "*.png", tmp_path / "bands", "--tile", "32", *outscale)
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
    from superres.models import load_model

    _large_tiff_inputs(tmp_path)
    monkeypatch.setattr(engine_rows, "ROW_BAND_BYTES", 1)
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return run_bands(*args)

    run_bands = engine_rows.run_bands
    monkeypatch.setattr(engine_rows, "run_bands", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        api.upscale_file(load_model("bicubic", scale=2), tmp_path / "scan.tif", tmp_path / f"out.{ext}")
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == [
        "dem.tif",
        "refl.tif",
        "scan.tif",
    ]


@pytest.mark.parametrize(("writer", "name"), [("write_tiff_rows", "out.tif"), ("write_png_rows", "out.png")])
def test_row_writers_refuse_bands_of_the_wrong_height_and_leave_no_file(tmp_path, monkeypatch, writer, name):
    """Both writers refuse bands of more or fewer rows than the image, TIFF bands past its
    height included (tifffile stops asking for tiles at the last one, so the writer counts)."""
    from superres.io import rows

    monkeypatch.setattr(rows, "TIFF_TILE", 16)  # tiles end with the 32nd row, before the 3rd band
    image = ImageData(np.zeros((32, 5, 3), np.uint8))
    for count in (1, 3):  # 16 rows: too few; 48: too many
        bands = [np.zeros((16, 5, 3), np.uint8)] * count
        with pytest.raises(ValueError, match=f"row bands held {16 * count} rows, the image 32"):
            getattr(rows, writer)(tmp_path / name, image, iter(bands))
        assert list(tmp_path.iterdir()) == []


def test_a_result_over_the_default_read_limit_is_said_so(tmp_path):
    """A 13380 x 13380 result (179 MP) is written, with a warning that neither superres with
    its default --max-pixels nor Pillow reads it back without a raised limit."""
    from superres.io import DEFAULT_MAX_PIXELS, write_tiff_rows

    side = 13_380
    assert side * side > DEFAULT_MAX_PIXELS
    image = ImageData(np.broadcast_to(np.zeros((), np.uint8), (side, side, 1)))
    bands = (np.zeros((rows, side, 1), np.uint8) for rows in [4096] * 3 + [side - 3 * 4096])
    said = r"big\.tif: the result is 13380x13380 = 179,024,400 pixels, over the 178,956,970 that superres"
    with pytest.warns(UserWarning, match=said + r" \(without a larger --max-pixels\) and Pillow will read"):
        write_tiff_rows(tmp_path / "big.tif", image, bands)
    assert (tmp_path / "big.tif").stat().st_size > 0
