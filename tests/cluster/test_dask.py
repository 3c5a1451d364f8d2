"""superres.cluster.dask on a local Dask distributed cluster: chunk by chunk equals the
single-machine tiled result, georeferencing rescaled, a COG written block by block."""

from __future__ import annotations

import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
import rasterio
import rioxarray
import torch
from distributed import Client, LocalCluster
from rasterio.transform import from_origin

import superres
from superres.api import upscale_file
from superres.archs import build_network
from superres.cluster.dask import RasterOptions, upscale, write_cog
from superres.engine.options import TileOptions, UpscaleOptions
from superres.errors import SuperresError
from tests.engine import tiny_model

TILING = TileOptions(tile=32)  # tiles of 32 and chunks of 40 x 48: tiles across chunk boundaries
ORIGIN = from_origin(500000.0, 4200000.0, 30.0, 30.0)


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def model():
    """A tiny RLFN: its ESA pools over the tile, so a tile's output depends on where it lies."""
    torch.manual_seed(0)
    return tiny_model(build_network("rlfn", scale=2, feature_channels=8, esa_channels=4, num_blocks=1))


def _raster(seed: int = 0) -> np.ndarray:
    """3 x 100 x 130 uint16 (band, y, x): smooth fields, bright spots, a 0 collar on the left."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:100, :130]
    bands = [20000 + 15000 * np.sin(x / (7 + b)) * np.cos(y / (9 - b)) for b in range(3)]
    pixels = np.stack(bands) + rng.normal(0, 2000, (3, 100, 130))
    pixels[:, 40:46, 60:66] = 54253  # a bright cloud: the network overshoots around it
    return np.clip(pixels, 1000, 54253).astype(np.uint16) * (np.arange(130) >= 17)  # the collar


def _geotiff(path, pixels, nodata=0):
    with rasterio.open(
        path, "w", driver="GTiff", width=pixels.shape[2], height=pixels.shape[1], count=pixels.shape[0],
        dtype=pixels.dtype.name, crs="EPSG:32633", transform=ORIGIN, nodata=nodata,
    ) as dataset:  # fmt: skip
        dataset.write(pixels)
    return path


@pytest.mark.slow
def test_chunks_equal_the_whole_image(client, model):
    """Band-first uint16 in chunks of 40 x 48 (boundaries in both directions) equals the
    single-machine tiled result of superres.upscale within one unit (1/65535), though the
    network's tiles differ from its whole-image run (chunks tiled on their own would not)."""
    pixels = _raster()[:, :, 17:]  # no collar: the array API knows no no-data
    result = upscale(
        da.from_array(pixels, chunks=(3, 40, 48)), model=model,
        options=RasterOptions(tiling=TILING, clamp_range=False),
    )  # fmt: skip
    assert result.chunks[1:] == ((80, 120), (96, 130))  # short last chunks (< one tile) merged
    expected = superres.upscale(pixels.transpose(1, 2, 0), model=model, tile=32)
    got = result.compute().transpose(1, 2, 0)
    assert got.dtype == np.uint16 and got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    whole = superres.upscale(pixels.transpose(1, 2, 0), model=model, tile=0)
    assert np.abs(whole.astype(int) - expected.astype(int)).max() > 65535 / 255  # the tiles matter


def test_channel_last_float_and_two_dimensional(client, model):
    """Channel-last float32 (mapped from its own min..max, as the engine does) and a 2-D band."""
    rng = np.random.default_rng(1)
    pixels = rng.normal(300, 40, (70, 90, 3)).astype(np.float32)
    options = RasterOptions(tiling=TILING, clamp_range=False, bands="last")
    got = upscale(da.from_array(pixels, chunks=(30, 30, 3)), model=model, options=options).compute()
    expected = superres.upscale(pixels, model=model, tile=32)
    assert np.abs(got - expected).max() <= (pixels.max() - pixels.min()) / 255
    flat = upscale(da.from_array(pixels[:, :, 0], chunks=25), model=model, options=options)
    assert flat.shape == (140, 180) and flat.dtype == np.float32
    with pytest.raises(ValueError, match="bands must be"):
        upscale(pixels, model=model, options=RasterOptions(bands="middle"))


def test_model_enters_the_graph_once(model):
    """The model is one key that every chunk task depends on, not a copy pickled into each."""
    result = upscale(da.from_array(_raster()[:, :, 17:], chunks=(3, 40, 48)), model=model)
    graph = dict(result.__dask_graph__())
    model_keys = [key for key in graph if "superres-model" in str(key)]
    assert len(model_keys) == 1
    users = [key for key, task in graph.items() if model_keys[0] in getattr(task, "dependencies", ())]
    assert len(users) == len(result.chunks[1]) * len(result.chunks[2])


def test_dataarray_to_cog_equals_the_cli(client, model, tmp_path):
    """A rioxarray raster with a 0 collar (GDAL no-data), chunked, upscaled on the cluster and
    written as a COG block by block: transform rescaled with the corner kept, CRS, no-data and
    attributes kept; pixels equal ``superres upscale``'s of the same GeoTIFF within one unit;
    the collar exactly no-data; every band within its input range; overviews, COG layout."""
    pixels = _raster()
    source = _geotiff(tmp_path / "scene.tif", pixels)
    data = rioxarray.open_rasterio(source, chunks={"x": 48, "y": 40})
    result = upscale(data, model=model, options=RasterOptions(tiling=TILING))
    assert result.rio.transform() == from_origin(500000.0, 4200000.0, 15.0, 15.0)
    assert result.rio.crs.to_epsg() == 32633 and result.rio.nodata == 0
    assert result.attrs["AREA_OR_POINT"] == "Area"
    assert result.x.values[0] == 500000.0 + 7.5 and result.y.values[-1] == 4200000.0 - 100 * 30 + 7.5
    written = write_cog(result, tmp_path / "scene_x2.tif", in_flight=3)
    upscale_file(model, source, tmp_path / "cli_x2.tif", UpscaleOptions(tiling=TILING))
    with rasterio.open(written) as cog, rasterio.open(tmp_path / "cli_x2.tif") as cli:
        assert cog.transform == cli.transform == result.rio.transform()
        assert cog.bounds == cli.bounds and cog.crs == cli.crs and cog.nodata == 0
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert cog.overviews(1) == [2] and cog.block_shapes[0] == (256, 256)
        got, expected = cog.read(), cli.read()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    collar = np.zeros((200, 260), bool)
    collar[:, :34] = True
    assert ((got == 0).all(axis=0) == collar).all()  # no-data exactly where the collar was, x2
    valid = got[:, ~collar]
    assert valid.min() >= pixels[:, :, 17:].min(axis=(1, 2)).min() and valid.max() <= 54253


def test_write_cog_keeps_a_file_superres_did_not_write(tmp_path):
    target = tmp_path / "theirs.tif"
    target.write_bytes(b"not ours")
    with pytest.raises(SuperresError, match="superres did not write it"):
        write_cog(da.zeros((1, 8, 8), dtype=np.uint8), target)
    assert target.read_bytes() == b"not ours"


def test_importing_superres_and_reading_a_png_imports_no_cluster_engine(tmp_path):
    """``import superres`` and reading a PNG import neither Dask nor xarray, rasterio or rioxarray."""
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    code = (
        "import sys, superres; from superres.io import read_image;"
        f" read_image({str(tmp_path / 'a.png')!r});"
        " print(sorted(set(sys.modules) & {'dask', 'distributed', 'xarray', 'rasterio', 'rioxarray'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_worker_processes_receive_the_model_by_pickle(model):
    """On worker processes (the model and each chunk's plan pickled across), the result is the same."""
    pixels = _raster()[:, :, 17:]
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster):
        options = RasterOptions(tiling=TILING, clamp_range=False)
        got = upscale(da.from_array(pixels, chunks=(3, 48, 56)), model=model, options=options).compute()
    expected = superres.upscale(pixels.transpose(1, 2, 0), model=model, tile=32)
    assert np.abs(got.transpose(1, 2, 0).astype(int) - expected.astype(int)).max() <= 1


def test_row_bands_of_a_large_result_are_followed(model, monkeypatch):
    """A result past one row band is made by ``superres upscale`` in bands of rows, each tiled
    on its own: the chunks follow those bands and their tiles, and still equal it."""
    from superres.engine import rows as engine_rows

    monkeypatch.setattr(engine_rows, "ROW_BAND_BYTES", 1)  # bands of 16 input rows
    pixels = _raster()[:, :, 17:]
    options = RasterOptions(tiling=TILING, clamp_range=False)
    got = upscale(da.from_array(pixels, chunks=(3, 40, 48)), model=model, options=options)
    got = got.compute(scheduler="sync").transpose(1, 2, 0)
    expected = superres.upscale(pixels.transpose(1, 2, 0), model=model, tile=32)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    monkeypatch.setattr(engine_rows, "ROW_BAND_BYTES", 1 << 40)
    unbanded = superres.upscale(pixels.transpose(1, 2, 0), model=model, tile=32)
    assert np.abs(unbanded.astype(int) - expected.astype(int)).max() > 65535 / 255  # the bands matter
