"""A TIFF input's overviews and Cloud-Optimized GeoTIFF layout rebuilt in its result."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.shutil
import tifffile
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from superres.io.cog import has_cog_layout
from tests.io.conftest import upscale

TRANSFORM = from_origin(500000.0, 4200000.0, 30.0, 30.0)


def _write(path, *, cog=False, overviews=False):
    """A 300 x 280 uint16 GeoTIFF (no-data 0), as a COG, with overviews, or plain."""
    y, x = np.mgrid[:300, :280]
    pixels = (5000 + 20000 * (np.sin(x / 9) * np.cos(y / 7) + 1)).astype(np.uint16)[None]
    profile = dict(
        driver="GTiff", width=280, height=300, count=1, dtype="uint16", crs="EPSG:32633",
        transform=TRANSFORM, nodata=0,
    )  # fmt: skip
    plain = path.with_name("plain_" + path.name) if cog else path
    with rasterio.open(plain, "w", **profile) as dataset:
        dataset.write(pixels)
        if overviews:
            dataset.build_overviews([2, 4], Resampling.average)
    if cog:
        rasterio.shutil.copy(plain, path, driver="COG", BLOCKSIZE=128)
        plain.unlink()
    return path


@pytest.mark.parametrize("kind", ["cog", "overviews"])
def test_overviews_and_cog_layout_rebuilt(tmp_path, kind):
    """An input COG or GeoTIFF with overviews gives a COG (GDAL says LAYOUT=COG; its IFDs
    come first) with overviews made from the upscaled image, on the same ground."""
    source = _write(tmp_path / "scene.tif", cog=kind == "cog", overviews=kind == "overviews")
    with rasterio.open(source) as dataset:
        assert dataset.overviews(1) or has_cog_layout(source)
    upscale(source, tmp_path / "out")
    result = tmp_path / "out/scene_x2.tif"
    assert has_cog_layout(result)
    with rasterio.open(result) as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert dataset.overviews(1) == [2, 4]  # 560 x 600 halved until it fits a 256-pixel tile
        assert dataset.block_shapes[0] == (256, 256)
        assert dataset.transform == from_origin(500000.0, 4200000.0, 15.0, 15.0)
        assert dataset.crs.to_epsg() == 32633 and dataset.nodata == 0
        overview = dataset.read(1, out_shape=(150, 140))  # read from the x4 overview
        full = dataset.read(1)
    assert abs(float(overview.mean()) - float(full.mean())) < 0.01 * float(full.mean())
    with tifffile.TiffFile(result) as tif:
        offsets = [page.offset for page in tif.pages]
        assert max(offsets) < min(min(page.dataoffsets) for page in tif.pages)  # IFDs before data


def test_plain_geotiff_stays_plain(tmp_path):
    """No overviews in, none out (and no COG layout)."""
    upscale(_write(tmp_path / "scene.tif"), tmp_path / "out")
    with rasterio.open(tmp_path / "out/scene_x2.tif") as dataset:
        assert dataset.overviews(1) == []
    assert not has_cog_layout(tmp_path / "out/scene_x2.tif")


def test_without_rasterio_the_overviews_are_dropped_with_a_warning(tmp_path, monkeypatch):
    import importlib.util

    source = _write(tmp_path / "scene.tif", overviews=True)
    found = importlib.util.find_spec
    hidden = lambda name, *rest: None if name == "rasterio" else found(name, *rest)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    with pytest.warns(UserWarning, match="overviews .* not rebuilt: that needs rasterio"):
        upscale(source, tmp_path / "out")
    assert not has_cog_layout(tmp_path / "out/scene_x2.tif")


def test_a_result_written_in_row_bands_is_a_cog_too(tmp_path, monkeypatch):
    """A result too large for one row band (written band by band, never whole) of an input
    with overviews is copied into COG layout with overviews as well."""
    from superres import api
    from superres.engine import rows as engine_rows

    monkeypatch.setattr(engine_rows, "ROW_BAND_BYTES", 1)  # bands of 16 input rows
    monkeypatch.setattr(api, "upscale_image", None)  # never the whole result
    upscale(_write(tmp_path / "scene.tif", overviews=True), tmp_path / "out")
    with rasterio.open(tmp_path / "out/scene_x2.tif") as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and dataset.overviews(1) == [2, 4]
        assert dataset.transform == from_origin(500000.0, 4200000.0, 15.0, 15.0)
