"""DICOM and NIfTI values as the integers they were stored as, for evaluation: the
benchmark protocol runs on 8- and 16-bit samples and scores them by the bit depth in use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from superres.errors import SuperresError
from superres.io.dicom import DicomSource
from superres.io.image import ImageData
from superres.io.nifti import NiftiSource


def stored_uint16(image: ImageData, path: Path, *, offset: int | None = None) -> tuple[np.ndarray, int]:
    """The first page of a DICOM or NIfTI ``image`` (read from ``path``) as uint16: its stored
    integers (the rescale undone) less ``offset``, by default their least value, so a pair
    shares the HR image's offset and the PSNR peak is the data's own range (e.g. 4095 for a
    12-bit CT); returns the offset used. SuperresError for float data or a span past 16 bits."""
    source = image.medical
    pixels = image.page(0).pixels.astype(np.float64)
    if isinstance(source, DicomSource):
        slope, inter = source.slopes[0] or 1.0, source.intercepts[0]
        pixels = -pixels if source.monochrome1 else pixels
    elif isinstance(source, NiftiSource):
        if not np.issubdtype(source.header.get_data_dtype(), np.integer):
            raise SuperresError("evaluation needs integer NIfTI data (this is float)", path)
        slope = source.slope if np.isfinite(source.slope) and source.slope else 1.0
        inter = source.inter if np.isfinite(source.inter) else 0.0
    else:
        raise SuperresError("not a DICOM or NIfTI image", path)
    stored = np.round((pixels - inter) / slope)
    offset = int(stored.min()) if offset is None else offset
    shifted = stored - offset
    if shifted.max() > 65535:
        raise SuperresError(f"its values span {int(shifted.max()) + 1} steps, past 16 bits", path)
    return np.clip(shifted, 0, 65535).astype(np.uint16), offset
