"""One upscale job: read the uploaded file, check it against the server's limits, upscale it
with :func:`superres.api.upscale_image` (metadata, bit depth, alpha and pages kept, as
``superres upscale`` keeps them) and write the result in the job's folder.

Each refusal is a :class:`~superres.serve.pool.RequestError` with the HTTP status it
deserves: 413 for an image or result over the pixel limits, 415 for a file that is no image
superres reads, 422 for options the image or model cannot take.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path, PurePath

from superres.errors import SuperresError
from superres.io.formats import FORMATS
from superres.serve.jobs import Job
from superres.serve.options import ServeOptions
from superres.serve.pool import ModelPool, RequestError

OUTPUT_SUFFIXES = tuple(sorted({suffix.lstrip(".") for suffix in FORMATS}))
MEDIA_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
    "JPEG2000": "image/jp2",
    "HEIF": "image/heic",
    "TGA": "image/x-tga",
    "PPM": "image/x-portable-anymap",
}


@dataclass(frozen=True)
class UpscaleParams:
    """The options of one upscale, as ``superres upscale`` names them. ``format``: the
    output's extension without its dot (None: the input's, or png when it has none)."""

    model: str = "auto"
    scale: int | None = None
    outscale: float | None = None
    strength: float | None = None
    tta: bool = False
    format: str | None = None
    quality: int = 95


def media_type(path: str | PurePath) -> str:
    """The HTTP media type of an image file, by its extension."""
    return MEDIA_TYPES.get(FORMATS.get(PurePath(path).suffix.lower(), ""), "application/octet-stream")


def input_suffix(filename: str) -> str:
    """The suffix an upload is stored with: the client's, if superres knows it, else none."""
    suffix = PurePath(filename).suffix.lower()
    return suffix if suffix in FORMATS else ""


def result_name(filename: str, scale: float, suffix: str) -> str:
    """``photo_x4.png`` for ``photo.jpg``: what the client is told to call the result."""
    stem = PurePath(filename).stem or "image"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:100] or "image"
    return f"{safe}_x{scale:g}.{suffix}"


class Upscaler:
    """Runs jobs for a :class:`~superres.serve.jobs.JobQueue` with the models of ``pool``
    under ``options``' limits. Decoding and encoding run one at a time (``io_lock``): the
    readers collect decoder warnings with ``warnings.catch_warnings``, which is not safe
    across threads; the network runs in parallel."""

    def __init__(self, pool: ModelPool, options: ServeOptions) -> None:
        self.pool = pool
        self.options = options
        self.io_lock = threading.Lock()

    def __call__(self, job: Job) -> None:
        from superres.api import TileOptions, UpscaleOptions, check_output_size, upscale_image
        from superres.engine.rows import result_size
        from superres.io import check_fits_format, check_format_holds, read_image, write_image

        params: UpscaleParams = job.params
        name = job.filename
        with self.io_lock:
            image = _read(read_image, job.upload, self.options.max_input_pixels, name)
        first = image.page(0)
        model = self.pool.pick(
            params.model,
            scale=params.scale,
            strength=params.strength,
            pixels=first.pixels,
            has_alpha=first.has_alpha,
        )
        suffix = params.format or (job.upload.suffix.lstrip(".") or "png")
        target = job.folder / f"result.{suffix}"
        height, width = result_size(model, image.pixels, params.outscale)
        try:
            check_output_size(height, width, limit=self.options.max_output_pixels, source=name)
        except SuperresError as exc:
            raise RequestError(413, str(exc).replace("--max-output-pixels", "the server's limit")) from None
        options = UpscaleOptions(
            tiling=TileOptions(tta=params.tta),
            outscale=params.outscale,
            quality=params.quality,
            max_pixels=self.options.max_input_pixels,
            max_output_pixels=self.options.max_output_pixels,
        )
        try:
            check_fits_format(target, height, width, source=name)
            check_format_holds(target, image, source=name)
            result = upscale_image(model, image, options, on_tile=job.on_tile)
            with self.io_lock:
                write_image(target, result, params.quality)
        except SuperresError as exc:
            raise RequestError(422, f"{name}: {exc.problem}") from None
        job.result, job.model, job.size = target, model.name, (width, height)
        job.result_name = result_name(name, params.outscale or model.scale, suffix)


def _read(read_image, path: Path, max_pixels: int, name: str):
    """``read_image(path)``, its refusal a RequestError naming the client's file ``name``."""
    try:
        return read_image(path, max_pixels=max_pixels)
    except SuperresError as exc:
        problem = exc.problem
        if "over the limit of" in problem:
            problem = problem.split(" (possible decompression bomb")[0]
            raise RequestError(413, f"{name}: {problem} (the server's limit)") from None
        raise RequestError(415, f"{name}: not an image superres reads ({problem})") from None
