"""GeoTIFF georeferencing and GDAL's no-data value, carried from an input TIFF to its upscaled
output with the raster-to-map mapping rescaled, so the result lies on the same ground.

The GeoTIFF tags map raster (pixel) coordinates to map coordinates: a pixel scale with tie
points, or a 4x4 transformation. Upscaling by f along an axis puts old raster coordinate I
at f * I (GTRasterTypeGeoKey PixelIsArea: coordinates count pixel corners) or at
f * (I + 0.5) - 0.5 (PixelIsPoint: they count pixel centres). The GeoKey directory, its
double and ASCII parameters and GDAL's metadata are copied as they are.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PIXEL_SCALE, TIEPOINT, TRANSFORMATION = 33550, 33922, 34264
GEO_KEYS, GEO_DOUBLES, GEO_ASCII = 34735, 34736, 34737
GDAL_METADATA, GDAL_NODATA = 42112, 42113
CARRIED = (
    *(PIXEL_SCALE, TIEPOINT, TRANSFORMATION),
    *(GEO_KEYS, GEO_DOUBLES, GEO_ASCII),
    *(GDAL_METADATA, GDAL_NODATA),
)
_RASTER_TYPE_KEY, _PIXEL_IS_POINT = 1025, 2
_NAMES = {
    PIXEL_SCALE: "ModelPixelScale", TIEPOINT: "ModelTiepoint", TRANSFORMATION: "ModelTransformation",
    GEO_KEYS: "GeoKeyDirectory", GEO_DOUBLES: "GeoDoubleParams", GEO_ASCII: "GeoAsciiParams",
    GDAL_METADATA: "GDAL_METADATA", GDAL_NODATA: "GDAL_NODATA",
}  # fmt: skip
_GEOREFERENCING = (PIXEL_SCALE, TIEPOINT, TRANSFORMATION, GEO_KEYS, GEO_DOUBLES, GEO_ASCII)
_DOUBLE, _SHORT, _ASCII = 12, 3, 2  # the TIFF data types the carried tags are written as


@dataclass(frozen=True)
class GeoTags:
    """The carried tags of one TIFF page as read, and the raster size they describe."""

    tags: tuple[tuple[int, int, tuple | str], ...]  # (code, TIFF data type, value)
    width: int
    height: int

    @property
    def nodata(self) -> float | None:
        """GDAL's no-data value (NaN included), or None when the file names none."""
        for code, _, value in self.tags:
            if code == GDAL_NODATA:
                try:
                    return float(str(value).strip().strip("\x00"))
                except ValueError:
                    return None
        return None

    def _value(self, code: int) -> tuple | str | None:
        return next((value for c, _, value in self.tags if c == code), None)

    def _pixel_is_point(self) -> bool:
        keys = self._value(GEO_KEYS) or ()
        entries = [keys[i : i + 4] for i in range(4, len(keys) - 3, 4)]
        return any(e[0] == _RASTER_TYPE_KEY and e[1] == 0 and e[3] == _PIXEL_IS_POINT for e in entries)

    def rescaled(self, width: int, height: int) -> list[tuple[int, int, int, tuple | str, bool]]:
        """tifffile ``extratags`` for a ``width`` x ``height`` raster of the same ground."""
        fx, fy = width / self.width, height / self.height
        # old raster coordinate = new / f + shift (a shift only for pixel-centre coordinates)
        shift_x, shift_y = (0.5 / fx - 0.5, 0.5 / fy - 0.5) if self._pixel_is_point() else (0.0, 0.0)
        out = []
        for code, dtype, value in self.tags:
            if code == PIXEL_SCALE:
                value = (value[0] / fx, value[1] / fy, *value[2:])
            elif code == TIEPOINT:
                points = np.array(value, dtype=np.float64).reshape(-1, 6)
                points[:, 0] = (points[:, 0] - shift_x) * fx
                points[:, 1] = (points[:, 1] - shift_y) * fy
                value = tuple(points.ravel().tolist())
            elif code == TRANSFORMATION:
                raster_to_old = np.eye(4)
                raster_to_old[0, 0], raster_to_old[1, 1] = 1 / fx, 1 / fy
                raster_to_old[0, 3], raster_to_old[1, 3] = shift_x, shift_y
                matrix = np.array(value, dtype=np.float64).reshape(4, 4) @ raster_to_old
                value = tuple(matrix.ravel().tolist())
            count = 0 if isinstance(value, str) else len(value)  # 0: tifffile counts the string
            out.append((code, dtype, count, value, True))
        return out


def flagging_nodata(geo: GeoTags | None, value: float, width: int, height: int) -> GeoTags:
    """``geo`` (or, for a TIFF without them, tags of a ``width`` x ``height`` raster) with
    GDAL's no-data tag set to ``value``: fill the file itself does not flag."""
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    kept = tuple(tag for tag in (geo.tags if geo else ()) if tag[0] != GDAL_NODATA)
    size = (geo.width, geo.height) if geo else (width, height)
    return GeoTags((*kept, (GDAL_NODATA, _ASCII, text)), *size)


def read_geo_tags(page: Any, path: Path) -> GeoTags | None:
    """The carried tags of a ``tifffile.TiffPage``, or None if it has none. A malformed tag
    (wrong length or type: a hostile or broken file) is said in a warning and left out; a
    malformed georeferencing tag leaves out all of the georeferencing, which it would falsify."""
    found = {code: page.tags[code].value for code in CARRIED if code in page.tags}
    problems = {code: problem for code, value in found.items() if (problem := _tag_problem(code, value))}
    for code, problem in problems.items():
        dropped = "the georeferencing is" if code in _GEOREFERENCING else "it is"
        warnings.warn(
            f"{path}: its GeoTIFF {_NAMES[code]} tag is malformed ({problem}); {dropped} not carried over",
            stacklevel=4,
        )
    if problems.keys() & set(_GEOREFERENCING):
        problems |= {code: "" for code in _GEOREFERENCING}
    tags = tuple(_normalised(code, value) for code, value in found.items() if code not in problems)
    return GeoTags(tags, int(page.imagewidth), int(page.imagelength)) if tags else None


_LENGTHS = {PIXEL_SCALE: "3 numbers", TIEPOINT: "6 numbers per point", TRANSFORMATION: "16 numbers"}


def _tag_problem(code: int, value: Any) -> str | None:
    """What is wrong with a carried tag's value as tifffile read it, or None."""
    if code in (GEO_ASCII, GDAL_METADATA, GDAL_NODATA):
        return None if isinstance(value, str) else "not text"
    values = tuple(np.atleast_1d(np.asarray(value)).ravel()) if not isinstance(value, (str, bytes)) else None
    if values is None or not all(isinstance(v, (int, float, np.number)) for v in values):
        return "not numbers"
    count = len(values)
    if code == GEO_KEYS:
        whole = all(float(v).is_integer() and 0 <= v <= 65535 for v in values)
        if not whole or count < 4 or count % 4 or count < 4 + 4 * int(values[3]):
            return f"{count} value{'s' * (count != 1)}, not a 4-short header and 4 shorts per key"
        return None
    wrong = {PIXEL_SCALE: count < 2, TIEPOINT: count == 0 or count % 6, TRANSFORMATION: count != 16}
    return f"{count} value{'s' * (count != 1)}, {_LENGTHS[code]} expected" if wrong.get(code) else None


def _normalised(code: int, value: Any) -> tuple[int, int, tuple | str]:
    """(code, TIFF data type, value) of a well-formed tag, numbers as a tuple (tifffile gives
    a single number for a tag of count 1), written as GeoTIFF's types."""
    if isinstance(value, str):
        return code, _ASCII, value
    values = np.atleast_1d(np.asarray(value)).ravel()
    if code == GEO_KEYS:
        return code, _SHORT, tuple(int(v) for v in values)
    return code, _DOUBLE, tuple(float(v) for v in values)


def nearest_mask(mask: np.ndarray, height: int, width: int, rows: range | None = None) -> np.ndarray:
    """An H x W boolean mask resized to ``height`` x ``width`` by nearest neighbour (pixel
    centres); only output ``rows`` of it if given."""
    wanted = np.arange(height) if rows is None else np.arange(rows.start, rows.stop)
    sources = np.minimum((wanted + 0.5) * mask.shape[0] / height, mask.shape[0] - 1).astype(np.intp)
    cols = np.minimum((np.arange(width) + 0.5) * mask.shape[1] / width, mask.shape[1] - 1).astype(np.intp)
    return mask[sources[:, None], cols[None, :]]


def is_nodata(pixels: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """H x W: True where any band is NaN or equals the no-data value; None if nothing is."""
    missing = np.zeros(pixels.shape[:2], dtype=bool)
    if np.issubdtype(pixels.dtype, np.floating):
        missing |= np.isnan(pixels).any(axis=2)
    if nodata is not None and not math.isnan(nodata) and _representable(nodata, pixels.dtype):
        missing |= (pixels == np.asarray(nodata, dtype=pixels.dtype)).any(axis=2)
    return missing if missing.any() else None


def _representable(value: float, dtype: np.dtype) -> bool:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return value.is_integer() and info.min <= value <= info.max
    return True
