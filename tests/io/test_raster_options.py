"""Rasters through ``superres upscale``: ``--nodata`` for fill the file does not flag, and
results clamped to each band's input range (``--no-clamp-range`` turns it off)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import superres
from superres.api import upscale_image
from superres.engine.options import UpscaleOptions
from superres.io import ImageData
from superres.models import load_model
from tests.io.conftest import upscale, write_geotiff


def _scene() -> np.ndarray:
    """64 x 50 uint16: a smooth field from 3000 to 30000, a bright cloud (54,253, the data's
    largest value) on it, and a 0 collar over the left 16 columns (32% of the pixels)."""
    y, x = np.mgrid[:64, :50]
    pixels = 3000 + 27000 * (np.sin(x / 6.0) * np.cos(y / 5.0) + 1) / 2
    pixels[20:30, 30:40] = 54253
    pixels[:, :16] = 0
    return pixels.astype(np.uint16)


def test_nodata_option_keeps_an_unflagged_collar_exactly(tmp_path):
    """The file does not flag its 0 collar: without --nodata it is smeared into the scene (and
    the scene into it); with --nodata 0 the collar is exactly the input's, x2, no valid pixel
    becomes 0, and the result flags it (GDAL_NODATA "0")."""
    pixels = _scene()
    write_geotiff(tmp_path / "scene.tif", pixels, raster_type=1)
    upscale(tmp_path / "scene.tif", tmp_path / "plain")
    upscale(tmp_path / "scene.tif", tmp_path / "flagged", "--nodata", "0")
    collar = np.zeros((128, 100), bool)
    collar[:, :32] = True
    smeared = tifffile.imread(tmp_path / "plain/scene_x2.tif")
    assert ((smeared == 0) != collar).any()
    with tifffile.TiffFile(tmp_path / "flagged/scene_x2.tif") as tif:
        result = tif.asarray()
        assert tif.pages[0].tags[42113].value.strip("\x00") == "0"
    assert ((result == 0) == collar).all()
    assert result[~collar].min() >= pixels[pixels > 0].min()


def test_raster_result_clamped_to_each_bands_input_range(tmp_path):
    """Bicubic rings around the cloud: by default a GeoTIFF's result stays within the input's
    range (no 54,253 + overshoot, no dark ring under the field's 3000); --no-clamp-range
    leaves the rings; an array (a picture, not a raster) keeps them too."""
    pixels = _scene()[:, 16:]
    write_geotiff(tmp_path / "scene.tif", pixels, raster_type=1)
    upscale(tmp_path / "scene.tif", tmp_path / "clamped")
    upscale(tmp_path / "scene.tif", tmp_path / "free", "--no-clamp-range")
    clamped = tifffile.imread(tmp_path / "clamped/scene_x2.tif")
    free = tifffile.imread(tmp_path / "free/scene_x2.tif")
    assert clamped.max() == 54253 and clamped.min() >= pixels.min()
    assert free.max() > 54253 and free.min() < pixels.min()
    picture = superres.upscale(pixels, model="bicubic", scale=2)
    assert (picture == free).all()


@pytest.mark.parametrize(("bands", "clamped"), [(5, True), (3, False)])
def test_more_than_four_bands_is_a_raster(bands, clamped):
    """A 5-band image (multispectral, no georeferencing) is clamped per band; an RGB one is not."""
    pixels = np.repeat(_scene()[:, 16:, None], bands, axis=2)
    pixels[..., 0] //= 2  # band 0's own range is half the others'
    result = upscale_image(load_model("bicubic", scale=2), ImageData(pixels), UpscaleOptions()).pixels
    highs = result.max(axis=(0, 1))
    assert (highs == pixels.max(axis=(0, 1))).all() == clamped
