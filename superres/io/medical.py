"""DICOM and NIfTI values as the integers they were stored as, for evaluation: the
benchmark protocol runs on 8- and 16-bit samples and scores them by the bit depth in use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from superres.errors import SuperresError
from superres.io.dicom import DicomSource
from superres.io.image import ImageData
from superres.io.nifti import NiftiSource


def stored_pages(image: ImageData, path: Path, *, offset: int | None = None) -> tuple[list[np.ndarray], int]:
    """Every page (slice, frame, time point) of a DICOM or NIfTI ``image`` (read from ``path``)
    as uint16: its stored integers (the rescale undone) less ``offset``, by default the least
    value of the whole volume, so all its slices and its LR partner share one offset and the
    PSNR peak is the data's own range (e.g. 4095 for a 12-bit CT); returns the offset used.
    SuperresError for float data or a span past 16 bits."""
    source = image.medical
    pages = image.stack.pages if image.stack else 1
    if isinstance(source, DicomSource):
        rescales = [(source.slopes[k] or 1.0, source.intercepts[k]) for k in range(pages)]
        sign = -1.0 if source.monochrome1 else 1.0
    elif isinstance(source, NiftiSource):
        if not np.issubdtype(source.header.get_data_dtype(), np.integer):
            raise SuperresError("evaluation needs integer NIfTI data (this is float)", path)
        slope = source.slope if np.isfinite(source.slope) and source.slope else 1.0
        inter = source.inter if np.isfinite(source.inter) else 0.0
        rescales, sign = [(slope, inter)] * pages, 1.0
    else:
        raise SuperresError("not a DICOM or NIfTI image", path)
    stored = [
        np.round((sign * image.page(k).pixels.astype(np.float64) - inter) / slope)
        for k, (slope, inter) in enumerate(rescales)
    ]
    offset = int(min(page.min() for page in stored)) if offset is None else offset
    span = max(int(page.max()) for page in stored) - offset
    if span > 65535:
        raise SuperresError(f"its values span {span + 1} steps, past 16 bits", path)
    return [np.clip(page - offset, 0, 65535).astype(np.uint16) for page in stored], offset
