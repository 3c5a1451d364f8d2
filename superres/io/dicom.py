"""DICOM in and out through pydicom (the ``medical`` extra), imported only when a DICOM file
is read or written.

Pixels are held as float32 modality values (stored value x Rescale Slope + Rescale
Intercept: Hounsfield units for a CT), so the engine maps an image by its real value range.
MONOCHROME1 (white is the lowest value) is held negated, bright being high as the networks
expect. Frames are the pages of a stack (Z). Writing inverts all of this: stored values in
the input's type, BitsStored and signedness (clipped to the stored range), Explicit VR
Little Endian, with the geometry rescaled so the result covers the same physical extent:
PixelSpacing divided by the scale, and ImagePositionPatient (the centre of the first pixel)
moved by half the new minus half the old pixel size along the rows and columns.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from superres.errors import SuperresError
from superres.io.image import ImageData, TiffStack
from superres.io.limits import check_size

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_SPACING_TAGS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")


@dataclass(frozen=True)
class DicomSource:
    """What a DICOM output needs from its input: the dataset without its pixel data, the
    modality rescale of each frame, and how the values were stored."""

    dataset: Any  # pydicom.Dataset, PixelData removed
    slopes: tuple[float, ...]  # per frame
    intercepts: tuple[float, ...]
    monochrome1: bool
    dtype: str  # the stored values' numpy type, e.g. "int16"
    model: str | None = None  # the model that upscaled it, set by superres.api

    def derived(self, model: str) -> DicomSource:
        return replace(self, model=model)


def _pydicom(path: Path) -> Any:
    try:
        import pydicom
    except ImportError:
        raise SuperresError("DICOM needs pydicom: pip install 'superres[medical]'", path) from None
    return pydicom


def is_dicom(path: Path, magic: bytes) -> bool:
    """Whether ``path`` is DICOM: the DICM mark after the 128-byte preamble, or a .dcm name."""
    return magic[128:132] == b"DICM" or path.suffix.lower() == ".dcm"


def read_dicom(path: Path, max_pixels: int) -> ImageData:
    """The frames of a DICOM image as float32 modality values (see the module docstring)."""
    ds = _dataset(path)
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    check_size(cols, rows, max_pixels, path, frames)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        raise SuperresError("PALETTE COLOR DICOM is not supported", path)
    stored = _stored_pixels(ds, path)
    samples = int(ds.get("SamplesPerPixel", 1))
    stored = stored.reshape(frames, rows, cols, samples)
    slopes, intercepts = _rescale(ds, frames)
    values = stored.astype(np.float32)
    for i in range(frames):
        values[i] = values[i] * np.float32(slopes[i]) + np.float32(intercepts[i])
    monochrome1 = photometric == "MONOCHROME1"
    if monochrome1:
        values = -values
    pixels = np.ascontiguousarray(values.transpose(1, 2, 0, 3).reshape(rows, cols, frames * samples))
    del ds.PixelData
    source = DicomSource(ds, tuple(slopes), tuple(intercepts), monochrome1, stored.dtype.str)
    stack = TiffStack("Z", (frames,)) if frames > 1 else None
    return ImageData(pixels, source_format="DICOM", stack=stack, medical=source)


def _dataset(path: Path) -> Any:
    """The dataset of a DICOM file holding an image; SuperresError (one line) otherwise."""
    pydicom = _pydicom(path)
    try:
        ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError as exc:
        raise SuperresError(f"not a DICOM file ({_first_line(exc)})", path) from None
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise SuperresError(f"truncated or corrupt DICOM ({_first_line(exc)})", path) from None
    sop_class = str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", ""))
    if sop_class == _DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        raise SuperresError(
            "a DICOMDIR (the index of a media set), not an image; upscale its image files", path
        )
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise SuperresError("DICOM float pixel data (Float/DoubleFloatPixelData) is not supported", path)
    if "PixelData" not in ds:
        sop = str(getattr(ds.get("SOPClassUID"), "name", ""))
        if "Rows" in ds or "Image Storage" in sop:  # an image whose file ends early
            raise SuperresError(f"truncated or corrupt DICOM: a {sop or 'image'} with no pixel data", path)
        kind = ds.get("Modality") or sop or "non-image"
        raise SuperresError(f"a DICOM file with no pixel data (a {kind} object, not an image)", path)
    return ds


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0].split(" - ")[0][:120]


def _stored_pixels(ds: Any, path: Path) -> np.ndarray:
    """The stored values (pydicom: YBR colour converted to RGB), compressed syntaxes decoded
    by whichever handler is installed; SuperresError naming the syntax when none can."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        pixels = ds.pixel_array
    except (NotImplementedError, RuntimeError, ImportError) as exc:
        if syntax is not None and syntax.is_compressed:
            raise SuperresError(
                f"cannot decode its {syntax.name} pixel data ({syntax}): no installed decoder handles it"
                " (pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg, or gdcm)",
                path,
            ) from None
        raise SuperresError(f"cannot decode its pixel data ({_first_line(exc)})", path) from None
    except (ValueError, EOFError, AttributeError, KeyError, TypeError) as exc:
        raise SuperresError(f"truncated or corrupt DICOM pixel data ({_first_line(exc)})", path) from None
    if pixels.dtype.kind not in "ui":
        raise SuperresError(f"DICOM with {pixels.dtype} pixel data is not supported", path)
    return pixels


def _rescale(ds: Any, frames: int) -> tuple[list[float], list[float]]:
    """Each frame's Rescale Slope and Intercept: the enhanced objects' functional groups
    (per frame, else shared), else the top-level tags, else 1 and 0."""

    def of(item: Any) -> tuple[float, float] | None:
        for group in ("PixelValueTransformationSequence",):
            if item is not None and group in item and len(item[group].value):
                inner = item[group].value[0]
                if "RescaleSlope" in inner:
                    return float(inner.RescaleSlope), float(inner.get("RescaleIntercept", 0.0))
        return None

    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    per_frame = list(ds.PerFrameFunctionalGroupsSequence) if "PerFrameFunctionalGroupsSequence" in ds else []
    top = (float(ds.get("RescaleSlope", 1.0) or 1.0), float(ds.get("RescaleIntercept", 0.0) or 0.0))
    found = [of(per_frame[i] if i < len(per_frame) else None) or of(shared) or top for i in range(frames)]
    return [s for s, _ in found], [b for _, b in found]


def _stored_values(image: ImageData, source: DicomSource) -> np.ndarray:
    """frames x rows x cols x samples stored values: the rescale inverted, rounded and
    clipped to the range BitsStored and PixelRepresentation give, in the input's type."""
    ds = source.dataset
    frames = len(source.slopes)
    rows, cols = image.pixels.shape[:2]
    values = image.pixels.astype(np.float64).reshape(rows, cols, frames, -1).transpose(2, 0, 1, 3)
    if source.monochrome1:
        values = -values
    for i in range(frames):
        values[i] = (values[i] - source.intercepts[i]) / (source.slopes[i] or 1.0)
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return np.clip(np.round(values), low, high).astype(np.dtype(source.dtype).newbyteorder("<"))


def write_dicom(path: Path, image: ImageData) -> None:
    """``image`` (upscaled from a DICOM input) as a derived DICOM at ``path``."""
    _pydicom(path)
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    source = image.medical
    ds = copy.deepcopy(source.dataset)
    stored = _stored_values(image, source)
    rows, cols, samples = stored.shape[1:]
    fy, fx = rows / int(ds.Rows), cols / int(ds.Columns)
    ds.Rows, ds.Columns = rows, cols
    _rescale_geometry(ds, fy, fx)
    for name in ("SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingRangeLimit"):
        if name in ds:
            del ds[name]
    if samples == 3:
        ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    # The new series is named by the old one, the model and the scale: the slices of a series
    # folder, upscaled file by file, form one derived series.
    series = [str(ds.get("SeriesInstanceUID", "")), source.model or "", f"{fx:g}x{fy:g}", "superres"]
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=series) if series[0] else generate_uid()
    ds.ImageType = ["DERIVED", "SECONDARY", *list(ds.get("ImageType", []))[2:]]
    scale = f"{fx:g}" if fx == fy else f"{fx:g} x {fy:g}"
    ds.DerivationDescription = f"upscaled x{scale} by superres, model {source.model or 'unknown'}"[:1024]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PixelData = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder("<"))).tobytes()
    ds["PixelData"].VR = "OB" if stored.dtype.itemsize == 1 else "OW"
    for _ in ds.iterall():  # every element decoded, so it can be written in another encoding
        pass
    ds.set_original_encoding(False, True, ds.original_character_set)
    ds.save_as(path, enforce_file_format=True)


def _rescale_geometry(ds: Any, fy: float, fx: float) -> None:
    """Every ImagePositionPatient moved to the new first pixel (with the old spacings), then
    every pixel spacing divided by the scale: top level and functional groups alike."""
    shared = ds.SharedFunctionalGroupsSequence[0] if ds.get("SharedFunctionalGroupsSequence") else None
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence", []) or [])
    top_orientation = (
        [float(v) for v in ds.ImageOrientationPatient] if "ImageOrientationPatient" in ds else None
    )
    _move_position(ds, top_orientation, _spacing(ds), fy, fx)
    for item in per_frame:
        orientation = _orientation(item, shared) or top_orientation
        spacing = _spacing(_measures(item, shared)) or _spacing(ds)
        for position in item.get("PlanePositionSequence", []):
            _move_position(position, orientation, spacing, fy, fx)
    _rescale_spacings(ds, fy, fx)
    for item in [*per_frame, *([shared] if shared is not None else [])]:
        for measures in item.get("PixelMeasuresSequence", []):
            _rescale_spacings(measures, fy, fx)


def _measures(item: Any, shared: Any) -> Any:
    """A frame's PixelMeasuresSequence item: its own, else the shared one, else None."""
    for group in (item, shared):
        if group is not None and group.get("PixelMeasuresSequence"):
            return group.PixelMeasuresSequence[0]
    return None


def _orientation(item: Any, shared: Any) -> list[float] | None:
    """A frame's ImageOrientationPatient: its own PlaneOrientationSequence, else the shared one."""
    for group in (item, shared):
        for plane in group.get("PlaneOrientationSequence", []) if group is not None else []:
            if "ImageOrientationPatient" in plane:
                return [float(v) for v in plane.ImageOrientationPatient]
    return None


def _spacing(item: Any) -> tuple[float, float] | None:
    """(between rows, between columns) of an item's PixelSpacing, or None."""
    spacing = item.get("PixelSpacing") if item is not None else None
    return (float(spacing[0]), float(spacing[1])) if spacing else None


def _rescale_spacings(item: Any, fy: float, fx: float) -> None:
    for tag in _SPACING_TAGS:
        if tag in item and item[tag].value:
            row, col = (float(v) for v in item[tag].value)
            item[tag].value = [_ds_number(row / fy), _ds_number(col / fx)]


def _move_position(item: Any, orientation: list[float] | None, spacing: Any, fy: float, fx: float) -> None:
    """ImagePositionPatient of the new first pixel's centre: the old one moved by half the new
    minus half the old pixel size along the row and the column directions."""
    if orientation is None or spacing is None or "ImagePositionPatient" not in item:
        return
    row_spacing, col_spacing = spacing
    along_row, along_col = np.array(orientation[:3]), np.array(orientation[3:6])
    position = np.array([float(v) for v in item.ImagePositionPatient])
    position += along_row * col_spacing * (0.5 / fx - 0.5) + along_col * row_spacing * (0.5 / fy - 0.5)
    item.ImagePositionPatient = [_ds_number(v) for v in position]


def _ds_number(value: float) -> str:
    """A Decimal String value (at most 16 characters) as close to ``value`` as it holds."""
    for digits in range(15, 5, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{value:.6g}"
