"""A request's image, read under a byte cap into a job's folder: a raw body, or the part
named ``file`` of a multipart form (its other fields are returned as text). Nothing of the
request is written anywhere else: the multipart parser keeps parts in memory (the cap bounds
them) and its disk folder, were it ever used, is the job's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from superres.serve.pool import RequestError
from superres.serve.work import MEDIA_TYPES, input_suffix

MAX_FIELD_BYTES = 1024
SUFFIX_OF_MEDIA_TYPE = {media: f".{fmt.lower()}" for fmt, media in MEDIA_TYPES.items()} | {
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "image/heic": ".heic",
    "image/jp2": ".jp2",
    "image/x-tga": ".tga",
    "image/x-portable-anymap": ".ppm",
}


@dataclass
class Upload:
    """The stored input file, the client's name for it, and the form's other fields."""

    path: Path
    filename: str
    fields: dict[str, str] = field(default_factory=dict)


def too_large(limit: int) -> RequestError:
    return RequestError(413, f"the request body is over the server's limit of {limit:,} bytes")


async def capped(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """``chunks``, refused (413) once they add up to more than ``limit`` bytes."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        yield chunk


async def read_raw(
    chunks: AsyncIterator[bytes], folder: Path, *, filename: str, media_type: str, limit: int
) -> Upload:
    """A raw request body (the image's bytes) stored as ``folder/input.EXT``; the extension
    from ``filename``, else from the media type."""
    suffix = input_suffix(filename) or SUFFIX_OF_MEDIA_TYPE.get(media_type.split(";")[0].strip().lower(), "")
    path = folder / f"input{suffix}"
    size = 0
    with open(path, "wb") as out:
        async for chunk in capped(chunks, limit):
            out.write(chunk)
            size += len(chunk)
    if size == 0:
        raise RequestError(400, "the request has no image: send it as the body or as the form field 'file'")
    return Upload(path, filename or f"image{suffix}")


async def read_multipart(
    chunks: AsyncIterator[bytes], folder: Path, *, content_type: str, limit: int
) -> Upload:
    """The part named ``file`` of a multipart/form-data body stored as ``folder/input.EXT``
    (the extension of its file name), and the other fields as text."""
    from python_multipart.multipart import FormParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise RequestError(400, "the multipart/form-data body has no boundary in its Content-Type")
    files: list = []
    fields: dict[str, str] = {}

    def on_field(found) -> None:
        name = (found.field_name or b"").decode("utf-8", "replace")
        value = found.value or b""
        if len(value) > MAX_FIELD_BYTES:
            raise RequestError(422, f"form field {name!r} is over {MAX_FIELD_BYTES} bytes")
        fields[name] = value.decode("utf-8", "replace")

    config = {"UPLOAD_DIR": str(folder), "MAX_MEMORY_FILE_SIZE": limit + 1, "UPLOAD_KEEP_FILENAME": False}
    parser = FormParser("multipart/form-data", on_field, files.append, boundary=boundary, config=config)
    try:
        async for chunk in capped(chunks, limit):
            parser.write(chunk)
        parser.finalize()
    except RequestError:
        raise
    except Exception as exc:  # python-multipart's errors: a malformed body
        raise RequestError(400, f"malformed multipart/form-data body ({type(exc).__name__})") from None
    named = [f for f in files if f.field_name == b"file"]
    if not named:
        raise RequestError(422, "the form has no file part named 'file'")
    filename = Path((named[0].file_name or b"").decode("utf-8", "replace")).name
    path = folder / f"input{input_suffix(filename)}"
    source = named[0].file_object
    source.seek(0)
    path.write_bytes(source.read())
    for part in files:
        part.close()
    if path.stat().st_size == 0:
        raise RequestError(400, "the form's file part is empty")
    return Upload(path, filename or f"image{path.suffix}", fields)
