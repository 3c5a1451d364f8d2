"""Overviews and Cloud-Optimized GeoTIFF layout kept: a TIFF result of a single-page GeoTIFF
that held reduced-resolution pages (overviews) or was a COG is written as a COG, its
overviews rebuilt from the upscaled image.

The TIFF writers (:mod:`superres.io.write_tiff`, :mod:`superres.io.rows`) write the result
as usual into a staging file beside the output; GDAL's COG driver (through rasterio, in the
``superres[dask]`` extra) copies it into the output's temporary file, tile by tile: IFDs
first, 256-pixel tiles, overviews (averaged, no-data left out) halving down to one tile,
the georeferencing, no-data and GDAL metadata carried. Without rasterio the overviews are
dropped, as before, and a warning says so.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

COG_BLOCK = 256
_GHOST = b"GDAL_STRUCTURAL_METADATA_SIZE="


def has_cog_layout(path: str | os.PathLike[str]) -> bool:
    """Whether a TIFF starts with the structural metadata of GDAL's COG layout (IFDs before
    the data, and not edited since: what GDAL reports as LAYOUT=COG)."""
    with open(path, "rb") as file:
        head = file.read(512)
    ghost = _GHOST in head[:64]
    return ghost and b"LAYOUT=IFDS_BEFORE_DATA" in head and b"KNOWN_INCOMPATIBLE_EDITION=NO" in head


def input_pyramid(path: str | os.PathLike[str], levels: int) -> str | None:
    """What a TIFF of ``levels`` resolution levels (tifffile's series levels) holds to be
    rebuilt: "cog", "overviews", or None."""
    if has_cog_layout(path):
        return "cog"
    return "overviews" if levels > 1 else None


@contextmanager
def pyramid_stage(target: Path, pyramid: str | None) -> Iterator[Path]:
    """The path a TIFF writer writes to: ``target`` itself, or, for an input ``pyramid`` with
    rasterio at hand, a staging file that is then copied into ``target`` as a COG."""
    if pyramid is None:
        yield target
        return
    if importlib.util.find_spec("rasterio") is None:
        warnings.warn(
            f"{target}: the input's overviews (or COG layout) are not rebuilt: that needs rasterio"
            " (pip install 'superres[dask]')",
            stacklevel=4,
        )
        yield target
        return
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".stage.tif")
    os.close(handle)
    stage = Path(name)
    try:
        yield stage
        _copy_as_cog(stage, target)
    finally:
        stage.unlink(missing_ok=True)


def _copy_as_cog(source: Path, target: Path) -> None:
    """GDAL's COG copy of ``source`` into ``target``, overviews made from its full resolution."""
    import rasterio.shutil

    rasterio.shutil.copy(
        source, target, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=COG_BLOCK, BIGTIFF="IF_SAFER",
        OVERVIEWS="IGNORE_EXISTING", OVERVIEW_RESAMPLING="AVERAGE",
    )  # fmt: skip
