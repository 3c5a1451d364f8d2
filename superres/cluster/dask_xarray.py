"""An xarray DataArray (rioxarray's band, y, x) upscaled on Dask: the pixels through
:func:`superres.cluster.dask.upscale_array`, the georeferencing rescaled to the new pixel size.

The transform's pixel size is divided by the scale and its origin kept, so the raster covers
the same ground (its corners do not move); the x / y coordinates are the new pixel centres;
the CRS, no-data value, attributes and encoding are carried over.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from superres.cluster.dask import RasterOptions, upscale_array
from superres.models import SRModel


def _spatial_dims(data: Any) -> tuple[str, str]:
    """The (y, x) dimension names: rioxarray's where it knows them, else "y" and "x"."""
    try:
        return data.rio.y_dim, data.rio.x_dim
    except Exception:  # no rioxarray accessor, or dims it does not recognise
        return "y", "x"


def _centres(coords: np.ndarray, scale: int) -> np.ndarray:
    """The pixel-centre coordinates of an axis ``scale`` times finer over the same extent."""
    if coords.size < 2:
        raise ValueError("an axis of one pixel has no pixel size to rescale")
    step = (coords[-1] - coords[0]) / (coords.size - 1)
    edge = coords[0] - step / 2
    return edge + (np.arange(coords.size * scale) + 0.5) * step / scale


def upscale_dataarray(data: Any, model: SRModel, options: RasterOptions) -> Any:
    """``data`` (2-D y, x or 3-D with one band dimension) upscaled lazily, as a DataArray."""
    import dask.array as da
    import xarray as xr

    y_dim, x_dim = _spatial_dims(data)
    if data.ndim not in (2, 3) or {y_dim, x_dim} - set(data.dims):
        raise ValueError(f"expected a DataArray with dims ({y_dim!r}, {x_dim!r}) and at most one band dim")
    band_dims = [d for d in data.dims if d not in (y_dim, x_dim)]
    has_rio = hasattr(data, "rio")
    nodata = options.nodata if options.nodata is not None else (data.rio.nodata if has_rio else None)
    ordered = data.transpose(y_dim, x_dim, *band_dims)
    pixels = ordered.data if isinstance(ordered.data, da.Array) else da.from_array(ordered.values)
    pixels = pixels if band_dims else pixels[:, :, None]
    result = upscale_array(pixels, model, replace(options, nodata=None if nodata is None else float(nodata)))
    result = result if band_dims else result[:, :, 0]
    s = model.scale
    coords = {d: data.coords[d] for d in band_dims if d in data.coords}
    coords |= {dim: _centres(np.asarray(data[dim].values, dtype=np.float64), s) for dim in (y_dim, x_dim)}
    coords |= {name: c for name, c in data.coords.items() if not set(c.dims) & {y_dim, x_dim, *band_dims}}
    out = xr.DataArray(result, dims=(y_dim, x_dim, *band_dims), coords=coords, attrs=dict(data.attrs))
    out = out.transpose(*data.dims)
    out.encoding = {k: v for k, v in data.encoding.items() if k not in ("preferred_chunks", "chunks")}
    if has_rio and (data.rio.crs is not None or "spatial_ref" in data.coords):
        from affine import Affine

        out = out.rio.write_transform(data.rio.transform(recalc=True) @ Affine.scale(1 / s))
        out = out.rio.write_crs(data.rio.crs) if data.rio.crs is not None else out
    if has_rio and nodata is not None:
        out = out.rio.write_nodata(nodata, encoded=False)
    return out
