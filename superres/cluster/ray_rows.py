"""One batch of rows through superres, as a Ray worker runs it (nothing here imports Ray).

A batch is a dict of columns (Ray Data's ``numpy`` batch format) of one of three kinds, told
apart by its columns:

- ``source`` and ``target``: file paths (on a file system every worker sees), or fsspec
  URLs (:mod:`superres.cluster.ray_urls`: fetched, then uploaded atomically). Each row is
  one planned job of :mod:`superres.batch`, run by :func:`superres.cli.upscale.upscale_job`
  as the local command runs it: the same refusals, limits, metadata and atomic write. Rows
  may carry the planner's ``overwrites_input`` and ``replaces_other``; without them the
  worker works them out (an existing file superres did not write is never replaced).
  Result columns: ``source``, ``target``, ``error``.
- ``bytes``: encoded image files (what ``ray.data.read_binary_files`` gives). Each is read
  and its result encoded by superres's own reader and writer, through a temporary file, so
  bit depth, ICC profile, EXIF and XMP travel as they do for files. Result: ``bytes`` in
  ``ext`` (default: the format of the row's ``path``, else PNG).
- ``image``: H x W or H x W x C arrays (``ray.data.read_images`` gives uint8 ones). Result:
  ``image``, arrays of the same dtype and layout (2 or 4 channels: the last is alpha).

Every other column is passed through. Each row gets ``error``: "" when it worked, else
one line saying why; a failed row's result is None. One bad row never fails its batch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from superres.engine.auto import AUTO
from superres.engine.options import UpscaleOptions
from superres.errors import SuperresError

if TYPE_CHECKING:
    from superres.cli.upscale import ModelChooser, OutputLimit


@dataclass(frozen=True)
class ModelSpec:
    """The model each worker loads, as :func:`superres.load_model` takes it; ``"auto"``
    picks per image as ``superres upscale`` does."""

    model: str = "default"
    scale: int | None = None
    device: str = "cpu"
    precision: str = "auto"
    strength: float | None = None

    def chooser(self, max_pixels: int) -> ModelChooser:
        """The model(s), loaded here (on the worker), and the choice among them."""
        from superres.cli.upscale import ModelChooser, auto_models

        if self.model == AUTO:
            return ModelChooser(None, auto_models(self), max_pixels, quiet=True)
        from superres.models import load_model

        settings = {"device": self.device, "precision": self.precision, "strength": self.strength}
        return ModelChooser(
            load_model(self.model, scale=self.scale, **settings), None, max_pixels, quiet=True
        )


@dataclass(frozen=True)
class RowWork:
    """What a worker does to each row: ``options`` around the network, ``ext`` the format
    of encoded results (``png``, ``.jpg``; None: as the input)."""

    options: UpscaleOptions = UpscaleOptions()
    ext: str | None = None


def upscale_batch(choose: ModelChooser, work: RowWork, batch: dict[str, Any]) -> dict[str, list]:
    """The result columns for one batch (see the module docstring)."""
    kind = next((column for column in _ROW_WORK if column in batch), None)
    if kind is None:
        found = ", ".join(batch) or "none"
        raise SuperresError(
            f"a batch needs a 'bytes', 'image' or 'source' and 'target' column (it has {found})"
        )
    count = len(batch[kind])
    passed = {name: list(values) for name, values in batch.items() if name not in ("bytes", "image")}
    results: list[Any] = []
    errors: list[str] = []
    for index in range(count):
        row = {name: values[index] for name, values in batch.items()}
        label = str(row.get("path", row.get("source", "image")))
        try:
            results.append(_ROW_WORK[kind](choose, work, row))
            errors.append("")
        except Exception as exc:  # the boundary: this row failed, the batch goes on
            from superres.cli.common import failure_line

            results.append(None)
            errors.append(failure_line(exc, label, debug=False))
    if kind != "target":
        passed[kind] = results
    return {**passed, "error": errors}


def _planned_file(choose: ModelChooser, work: RowWork, row: dict[str, Any]) -> None:
    from superres.atomic import written_by_superres
    from superres.batch import PlannedJob
    from superres.cli.upscale import upscale_job
    from superres.cluster.ray_urls import RemoteJob, is_url, run_remote_job

    if is_url(str(row["target"])):  # fetched, upscaled here, uploaded
        remote = RemoteJob(str(row["source"]), str(row["target"]), bool(row.get("overwrites_input")))
        limit = _limit(choose, work.options)
        run_remote_job(remote, lambda job: upscale_job(choose, job, work.options, limit))
        return
    source, target = Path(str(row["source"])), Path(str(row["target"]))
    if "replaces_other" in row:
        flags = {
            "overwrites_input": bool(row["overwrites_input"]),
            "replaces_other": bool(row["replaces_other"]),
        }
    else:
        present = target.exists() or target.is_symlink()
        flags = {
            "overwrites_input": target.resolve() == source.resolve(),
            "replaces_other": present and not written_by_superres(target),
        }
    upscale_job(choose, PlannedJob(source, target, **flags), work.options, _limit(choose, work.options))


def _limit(choose: ModelChooser, options: UpscaleOptions) -> OutputLimit:
    from superres.cli.upscale import OutputLimit

    scale = choose.model.scale if choose.model else choose.auto.scale
    return OutputLimit(options.outscale or scale, options.max_pixels, options.output_pixel_limit)


def _encoded(choose: ModelChooser, work: RowWork, row: dict[str, Any]) -> bytes:
    """The encoded result of one encoded image, through superres's reader and writer."""
    from superres.api import upscale_file
    from superres.io.formats import format_suffix

    name = Path(str(row.get("path", "image"))).name
    name = name if name not in ("", ".", "..") else "image"
    ext = work.ext or format_suffix(name) or ".png"  # NAME.nii.gz: .nii.gz
    with tempfile.TemporaryDirectory(prefix="superres-ray-") as folder:
        source = Path(folder) / name
        target = Path(folder) / f"result.{ext.lstrip('.')}"
        source.write_bytes(bytes(row["bytes"]))
        try:
            upscale_file(choose(source), source, target, work.options, overwrite=True)
        except SuperresError as exc:  # name the row, not the temporary file
            raise SuperresError(exc.problem, row.get("path", "image")) from None
        return target.read_bytes()


def _array(choose: ModelChooser, work: RowWork, row: dict[str, Any]) -> np.ndarray:
    from superres.api import upscale

    pixels = np.asarray(row["image"])
    if choose.model is not None:
        model = choose.model
    else:
        has_alpha = pixels.ndim == 3 and pixels.shape[2] in (2, 4)
        model, _ = choose.auto.for_pixels(pixels, has_alpha=has_alpha)
    return upscale(pixels, model=model, options=work.options)


# The column that marks each kind of batch (files, encoded images, arrays) and its work per row.
_ROW_WORK = {"target": _planned_file, "bytes": _encoded, "image": _array}
