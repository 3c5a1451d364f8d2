"""GeoTIFF georeferencing and no-data carried to the upscaled raster."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from superres.io import read_image, write_image
from tests.io.conftest import upscale, write_geotiff


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
    """The georeferencing is carried: upscaled x2, pixels are 5 m, and the map point of the
    old top-left pixel's corner (area) or centre (point) is unchanged."""
    pixels = np.zeros((6, 8), np.uint16)
    write_geotiff(tmp_path / "dem.tif", pixels, raster_type, transformation=transformation)
    upscale(tmp_path / "dem.tif", tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out/dem_x2.tif") as tif:
        assert tif.pages[0].tags[34735].value == (1, 1, 0, 1, 1025, 0, 1, raster_type)
        old_origin = (0.0, 0.0) if raster_type == 1 else (0.5, 0.5)  # new raster coords of old (0, 0)
        assert np.allclose(_map_xy(tif, *old_origin), (500000.0, 4000000.0))
        step = np.subtract(_map_xy(tif, old_origin[0] + 1, old_origin[1] + 1), (500000.0, 4000000.0))
        assert np.allclose(step, (5.0, -5.0))


def test_nodata_stays_nodata_and_out_of_the_value_range(tmp_path):
    """GDAL's no-data value (-9999) is kept out of the value range: counted in, it would squash
    the image into a sliver of it, and the upscaled edge of the hole would leak far below the
    real data."""
    heights = np.linspace(1000, 2000, 12 * 16).reshape(12, 16).astype(np.int16)
    heights[:4, :4] = -9999
    write_geotiff(tmp_path / "dem.tif", heights, 1, nodata="-9999")
    upscale(tmp_path / "dem.tif", tmp_path / "out")
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
    upscale(tmp_path / "refl.tif", tmp_path / "out")
    out = tifffile.imread(tmp_path / "out/refl_x2.tif")
    assert np.array_equal(np.argwhere(np.isnan(out)), [[4, 6], [4, 7], [5, 6], [5, 7]])


def test_georeferencing_dropped_outside_tiff_is_said(tmp_path):
    write_geotiff(tmp_path / "map.tif", np.zeros((6, 8), np.uint8), 1)
    with pytest.warns(UserWarning, match=r"map\.png: PNG cannot hold the input's georeferencing"):
        write_image(tmp_path / "map.png", read_image(tmp_path / "map.tif"))


@pytest.mark.parametrize(
    ("bad_tag", "named"),
    [
        ((33550, "d", 1, (1.0,), True), "ModelPixelScale"),  # one value, three expected
        ((34735, "H", 1, (1,), True), "GeoKeyDirectory"),  # one short, a header of four expected
        ((34264, "d", 3, (1.0, 0.0, 0.0), True), "ModelTransformation"),  # sixteen expected
    ],
)
def test_malformed_geotiff_tags_leave_out_the_georeferencing_with_a_warning(tmp_path, bad_tag, named):
    """A GeoTIFF tag of the wrong length (a hostile file) is not a TypeError: the image is
    upscaled, and its georeferencing, which cannot be trusted, is said to be left out."""
    tie = (33922, "d", 6, (0.0, 0.0, 0.0, 100.0, 200.0, 0.0), True)
    scale = (33550, "d", 3, (10.0, 10.0, 0.0), True)
    tags = [bad_tag] + [tag for tag in (tie, scale) if tag[0] != bad_tag[0]]
    tifffile.imwrite(tmp_path / "bad.tif", np.zeros((6, 8), np.uint8), extratags=tags)
    said = rf"bad\.tif: its GeoTIFF {named} tag is malformed .*not carried over"
    with pytest.warns(UserWarning, match=said):
        image = read_image(tmp_path / "bad.tif")
    assert image.geo is None
    write_image(tmp_path / "out.tif", image)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert not {33550, 33922, 34264, 34735} & set(tif.pages[0].tags.keys())
