"""A Dask result stored as a Cloud-Optimized GeoTIFF without ever holding all of it.

The blocks are computed a few at a time (wherever the scheduler runs them) and written by
the driver into a tiled GeoTIFF beside the target, so workers need no shared file system;
GDAL's COG driver then copies that file into COG layout (IFDs first, tiles, overviews made
from the upscaled image), a block at a time, into superres's atomic temporary file, which
replaces the target only when complete. Needs rasterio (GDAL).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from superres.atomic import atomic_output, written_by_superres
from superres.errors import SuperresError


def _band_first(result: Any) -> tuple[Any, dict]:
    """The band, y, x Dask array of a result and its georeferencing (a DataArray's, via rioxarray)."""
    import dask.array as da

    geo: dict = {}
    if hasattr(result, "dims"):
        if hasattr(result, "rio"):
            geo = {"transform": result.rio.transform(), "crs": result.rio.crs, "nodata": result.rio.nodata}
            y_dim, x_dim = result.rio.y_dim, result.rio.x_dim
        else:
            y_dim, x_dim = "y", "x"
        bands = [d for d in result.dims if d not in (y_dim, x_dim)]
        result = result.transpose(*bands, y_dim, x_dim).data
    array = result if isinstance(result, da.Array) else da.from_array(np.asarray(result))
    return (array[None] if array.ndim == 2 else array).rechunk({0: -1}), geo


def _write_blocks(array: Any, dataset: Any, in_flight: int) -> None:
    """Compute the blocks of band, y, x ``array`` ``in_flight`` at a time, writing each to its window."""
    import dask
    from rasterio.windows import Window

    tops, lefts = (np.cumsum((0, *c[:-1])) for c in array.chunks[1:])
    blocks = array.to_delayed()[0]
    places = [(i, j) for i in range(len(tops)) for j in range(len(lefts))]
    for start in range(0, len(places), in_flight):
        batch = places[start : start + in_flight]
        for (i, j), block in zip(batch, dask.compute(*(blocks[i, j] for i, j in batch)), strict=True):
            window = Window(int(lefts[j]), int(tops[i]), block.shape[2], block.shape[1])
            dataset.write(block, window=window)


def write_cog(
    result: Any,
    path: str | os.PathLike[str],
    *,
    transform: Any = None,
    crs: Any = None,
    nodata: float | None = None,
    overviews: bool = True,
    in_flight: int = 4,
    overwrite: bool = False,
) -> Path:
    """Store ``result`` (a DataArray from :func:`superres.cluster.dask.upscale`, or a band,
    y, x / y, x Dask array) as a Cloud-Optimized GeoTIFF at ``path``: deflate, 256-pixel
    tiles, overviews down to one tile (averaged; none with ``overviews=False``).
    ``transform``, ``crs``, ``nodata`` replace a DataArray's own. ``in_flight`` blocks are
    computed at once. An existing ``path`` is replaced only if superres wrote it, or with
    ``overwrite``. Disk: the staging file beside it, about the size of the result."""
    import rasterio
    import rasterio.shutil

    target = Path(path)
    if (target.exists() or target.is_symlink()) and not overwrite and not written_by_superres(target):
        raise SuperresError(
            f"output {target} exists and superres did not write it; overwrite=True replaces it"
        )
    array, geo = _band_first(result)
    given = {"transform": transform, "crs": crs, "nodata": nodata}
    geo |= {key: value for key, value in given.items() if value is not None}
    profile = {
        "driver": "GTiff", "width": array.shape[2], "height": array.shape[1], "count": array.shape[0],
        "dtype": array.dtype.name, "tiled": True, "blockxsize": 256, "blockysize": 256,
        "compress": "deflate", "BIGTIFF": "IF_SAFER", **geo,
    }  # fmt: skip
    stage = Path(tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".stage.tif")[1])
    try:
        with rasterio.open(stage, "w", **profile) as dataset:
            _write_blocks(array, dataset, max(1, in_flight))
        with atomic_output(target) as temporary:
            rasterio.shutil.copy(
                stage, temporary, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256, BIGTIFF="IF_SAFER",
                OVERVIEWS="AUTO" if overviews else "NONE", OVERVIEW_RESAMPLING="AVERAGE",
            )  # fmt: skip
    finally:
        stage.unlink(missing_ok=True)
    return target
