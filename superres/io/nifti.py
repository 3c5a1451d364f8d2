"""NIfTI-1/2 volumes (``.nii``, ``.nii.gz``) in and out through nibabel (the ``medical``
extra), imported only when one is read or written.

A 3-D volume is upscaled in-plane, slice by slice: the slice axis is the through-plane one,
the axis of the largest voxel size in the affine (the last axis on a tie), said on stderr as
a warning. Its slices (and, for a 4-D series, every volume's slices) are the pages of a stack
that shares one value mapping. Pixels are float32 values with scl_slope / scl_inter applied.
Writing keeps the header (data type, scl_slope / scl_inter, qform and sform codes, units,
intent, description) and scales the in-plane columns of the qform and sform affines, the
first voxel's centre moving by half the new minus half the old voxel size, so the volume
lies in the same physical space.
"""

from __future__ import annotations

import gzip
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from superres.errors import SuperresError
from superres.io.image import ImageData, TiffStack
from superres.io.limits import check_size

_STACK_AXES = "ZTUVW"  # the slice axis, then time and NIfTI's further dimensions


@dataclass(frozen=True)
class NiftiSource:
    """What a NIfTI output needs from its input: the header, the volume's shape, which axes
    the pages' rows and columns are and which the slices, and the scaling applied on reading."""

    header: Any  # nibabel's Nifti1Header / Nifti2Header
    shape: tuple[int, ...]
    in_plane: tuple[int, int]  # axes along the rows and the columns of a page
    slice_axis: int
    slope: float
    inter: float
    model: str | None = None

    def derived(self, model: str) -> NiftiSource:
        return replace(self, model=model)


def _nibabel(path: Path) -> Any:
    try:
        import nibabel
    except ImportError:
        raise SuperresError("NIfTI needs nibabel: pip install 'superres[medical]'", path) from None
    return nibabel


def slice_axis(affine: np.ndarray, ndim: int) -> int:
    """The through-plane axis of the first ``min(ndim, 3)`` axes: the largest voxel size in
    ``affine`` (the last of them on a tie)."""
    spatial = min(ndim, 3)
    sizes = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :spatial] ** 2).sum(axis=0))
    return int(spatial - 1 - np.argmax(sizes[::-1]))


def read_nifti(path: Path, max_pixels: int) -> ImageData:
    """A NIfTI volume as a stack of in-plane slices (see the module docstring)."""
    nibabel = _nibabel(path)
    try:
        image = nibabel.load(str(path))
        header = image.header
        shape = tuple(int(n) for n in image.shape)
    except Exception as exc:  # nibabel raises many types on a broken header
        raise SuperresError(f"not a readable NIfTI file ({_first_line(exc)})", path) from None
    if len(shape) < 2:
        raise SuperresError(f"a NIfTI of shape {shape} holds no image", path)
    axis = slice_axis(image.affine, len(shape)) if len(shape) >= 3 else 2
    in_plane = tuple(a for a in range(min(len(shape), 3)) if a != axis)[:2]
    pages = int(np.prod([n for a, n in enumerate(shape) if a not in in_plane]))
    check_size(shape[in_plane[1]], shape[in_plane[0]], max_pixels, path, pages)
    try:
        values = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as exc:  # a truncated or corrupt data block
        raise SuperresError(f"truncated or corrupt NIfTI data ({_first_line(exc)})", path) from None
    values = values.reshape(shape + (1,) * (3 - len(shape)))
    rest = [a for a in range(values.ndim) if a not in in_plane]
    pixels = np.ascontiguousarray(values.transpose(*in_plane, *rest))
    pixels = pixels.reshape(shape[in_plane[0]], shape[in_plane[1]], pages)
    if len(shape) >= 3:
        names = "xyz"
        warnings.warn(
            f"{path}: upscaled in-plane ({names[in_plane[0]]}-{names[in_plane[1]]}),"
            f" slice by slice along {names[axis]}, the axis of the largest voxel size",
            stacklevel=4,
        )
    slope, inter = (float(getattr(image.dataobj, name, np.nan)) for name in ("slope", "inter"))
    source = NiftiSource(header.copy(), shape, in_plane, axis, slope, inter)
    stack_shape = tuple(values.shape[a] for a in rest)
    stack = TiffStack(_STACK_AXES[: len(stack_shape)], stack_shape) if pages > 1 else None
    return ImageData(pixels, source_format="NIFTI", stack=stack, medical=source)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def rescaled_affine(affine: np.ndarray, factors: dict[int, float]) -> np.ndarray:
    """``affine`` (voxel centres to world) for a volume whose axis ``a`` is ``factors[a]``
    times as long: that column divided by the factor, the origin moved by half the new minus
    half the old voxel size along it, so the volume covers the same space."""
    out = np.array(affine, dtype=np.float64)
    for axis, factor in factors.items():
        out[:3, 3] += out[:3, axis] * (0.5 / factor - 0.5)
        out[:3, axis] /= factor
    return out


def _raw_values(image: ImageData, source: NiftiSource, shape: tuple[int, ...]) -> np.ndarray:
    """The volume in the header's data type: scaling inverted, rounded and clipped for integers."""
    rows, cols = image.pixels.shape[:2]
    rest = [a for a in range(max(len(shape), 3)) if a not in source.in_plane]
    full = (*shape, *(1,) * (3 - len(shape)))
    values = image.pixels.astype(np.float64).reshape(rows, cols, *(full[a] for a in rest))
    values = values.transpose(np.argsort([*source.in_plane, *rest])).reshape(shape)
    if np.isfinite(source.slope) and source.slope != 0:
        inter = source.inter if np.isfinite(source.inter) else 0.0
        values = (values - inter) / source.slope
    dtype = source.header.get_data_dtype()
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.round(values), info.min, info.max)
    return values.astype(dtype)


def write_nifti(path: Path, image: ImageData, *, gzipped: bool) -> None:
    """``image`` (upscaled from a NIfTI input) as a NIfTI at ``path``, gzipped if asked."""
    _nibabel(path)
    source: NiftiSource = image.medical
    rows, cols = image.pixels.shape[:2]
    shape = list(source.shape)
    old = dict(zip(source.in_plane, (shape[source.in_plane[0]], shape[source.in_plane[1]]), strict=True))
    shape[source.in_plane[0]], shape[source.in_plane[1]] = rows, cols
    factors = {axis: shape[axis] / size for axis, size in old.items()}
    header = source.header.copy()
    header.set_data_shape(shape)
    zooms = list(header.get_zooms())
    for axis, factor in factors.items():
        zooms[axis] /= factor
    header.set_zooms(zooms)
    qform, qcode = source.header.get_qform(coded=True)
    sform, scode = source.header.get_sform(coded=True)
    if qform is not None:
        header.set_qform(rescaled_affine(qform, factors), code=int(qcode))
    if sform is not None:
        header.set_sform(rescaled_affine(sform, factors), code=int(scode))
    header.set_slope_inter(
        None if not np.isfinite(source.slope) else source.slope,
        None if not np.isfinite(source.inter) else source.inter,
    )
    raw = _raw_values(image, source, tuple(shape))
    opener = gzip.open if gzipped else open
    with opener(path, "wb") as f:
        header.write_to(f)
        header.data_to_fileobj(raw, f, rescale=False)
