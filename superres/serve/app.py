"""The FastAPI application of ``superres serve``: the API under ``/api/v1`` (described by
its OpenAPI document at ``/api/v1/openapi.json``) and the web page at ``/``.

Every refusal is JSON ``{"error": "..."}`` with a 4xx status; request data is written only
inside the server's temporary folder (made at start, deleted at shutdown).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

import superres
from superres.serve.body import read_multipart, read_raw
from superres.serve.jobs import CANCELLED, DONE, FAILED, Job, JobQueue, new_job_id
from superres.serve.options import ServeOptions
from superres.serve.pool import ModelPool, RequestError
from superres.serve.work import OUTPUT_SUFFIXES, UpscaleParams, Upscaler, media_type

STATIC = Path(__file__).parent / "static"
API = "/api/v1"
OutputFormat = Literal[OUTPUT_SUFFIXES]  # type: ignore[valid-type]
CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; object-src 'none'"


class UpscaleQuery(BaseModel):
    """The options of an upscale, as ``superres upscale`` has them; in the query string, or
    as fields of a multipart form (a form field wins over the query's)."""

    model: str = Field(
        "auto", max_length=500, description="a name from GET /api/v1/models; auto picks per image"
    )
    scale: int | None = Field(None, ge=1, le=16, description="the model's scale (default: its own; auto: 4)")
    outscale: float | None = Field(None, gt=0, le=16, description="final scale: the model's, then bicubic")
    strength: float | None = Field(None, ge=0, le=1, description="blend of a fine-tune with its start")
    tta: bool = Field(False, description="x8 self-ensemble (8 times slower)")
    format: OutputFormat | None = Field(None, description="output extension (default: the input's)")
    quality: int = Field(95, ge=1, le=100, description="JPEG / WebP / AVIF / HEIC quality")
    filename: str = Field("", max_length=255, description="the image's file name, for a raw body")

    def params(self) -> UpscaleParams:
        return UpscaleParams(
            model=self.model,
            scale=self.scale,
            outscale=self.outscale,
            strength=self.strength,
            tta=self.tta,
            format=self.format,
            quality=self.quality,
        )


class ErrorBody(BaseModel):
    error: str


_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 422, 429)}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **{
                            name: {"type": "string"}
                            for name in UpscaleQuery.model_fields
                            if name != "filename"
                        },
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_IMAGE = {200: {"content": {"image/*": {}}, "description": "the upscaled image"}}


def _error(status: int, message: str) -> JSONResponse:
    headers = {"Retry-After": "2"} if status == 429 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError | ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "body"))
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "bad request: " + "; ".join(parts)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(_request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _describe_validation(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = CSP
        return response


def _token_check(token: str | None):
    """A dependency refusing (401) a request without ``Authorization: Bearer TOKEN``."""

    def check(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise RequestError(401, "this server needs a token: send 'Authorization: Bearer TOKEN'")

    return check


async def _receive(request: Request, query: UpscaleQuery, options: ServeOptions, root: Path) -> Job:
    """Store the request's image in a new job folder and make its job (not yet queued)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > options.max_upload_bytes:
        raise RequestError(
            413, f"the request body is over the server's limit of {options.max_upload_bytes:,} bytes"
        )
    folder = Path(tempfile.mkdtemp(prefix="job-", dir=root))
    try:
        content_type = request.headers.get("content-type", "")
        chunks, limit = request.stream(), options.max_upload_bytes
        if content_type.lower().startswith("multipart/form-data"):
            upload = await read_multipart(chunks, folder, content_type=content_type, limit=limit)
        else:
            upload = await read_raw(
                chunks, folder, filename=query.filename, media_type=content_type, limit=limit
            )
        if upload.fields:
            known = {k: v for k, v in upload.fields.items() if k in UpscaleQuery.model_fields}
            try:
                query = UpscaleQuery.model_validate(query.model_dump(exclude_unset=True) | known)
            except ValidationError as exc:
                raise RequestError(422, _describe_validation(exc)) from None
        return Job(new_job_id(), folder, upload.path, upload.filename, query.params())
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _result(job: Job, background: BackgroundTask | None = None) -> FileResponse:
    if job.state == FAILED and job.error is not None:
        raise job.error
    if job.state == CANCELLED:
        raise RequestError(409, f"job {job.id} was cancelled")
    if job.state != DONE or job.result is None:
        raise RequestError(409, f"job {job.id} is {job.state}; its result is not ready")
    headers = {"X-Superres-Model": job.model}
    return FileResponse(
        job.result,
        media_type=media_type(job.result),
        filename=job.result_name,
        headers=headers,
        background=background,
    )


def create_app(options: ServeOptions | None = None) -> FastAPI:
    """The application: loads the models of ``options`` now (a bad one is a SuperresError);
    starts the workers and makes the temporary folder when served, removes it at shutdown."""
    options = options or ServeOptions()
    pool = ModelPool(options.models, options.device)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        root = Path(tempfile.mkdtemp(prefix="superres-serve-"))
        queue = JobQueue(
            Upscaler(pool, options),
            workers=options.workers,
            max_queued=options.max_queued,
            max_kept=options.max_kept,
            ttl_s=options.job_ttl_s,
        )
        app.state.root, app.state.queue = root, queue
        queue.start()
        try:
            yield
        finally:
            queue.stop()
            shutil.rmtree(root, ignore_errors=True)

    app = FastAPI(
        title="superres",
        version=superres.__version__,
        description="Image super-resolution: upscale images synchronously or as jobs.",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # FastAPI's viewer loads from a CDN; the page and the API work offline
        redoc_url=None,
        lifespan=lifespan,
    )
    _install_handlers(app)
    _api_routes(app, pool, options)
    _job_routes(app, options)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app


def _api_routes(app: FastAPI, pool: ModelPool, options: ServeOptions) -> None:
    authorised = [Depends(_token_check(options.token))]

    @app.get(f"{API}/health", tags=["server"])
    def health(request: Request) -> dict:
        """Whether the server runs, and its jobs by state (no token needed)."""
        return {"status": "ok", "version": superres.__version__, "jobs": request.app.state.queue.counts()}

    @app.get(f"{API}/models", tags=["models"], dependencies=authorised, responses=_ERRORS)
    def models() -> dict:
        """The models offered: name, scales, kind (psnr, gan, real, auto, bicubic), card summary."""
        return {"models": [offer.public() for offer in pool.offers.values()]}

    @app.get(f"{API}/limits", tags=["server"], dependencies=authorised, responses=_ERRORS)
    def limits() -> dict:
        """The server's limits: upload bytes, input and output pixels, queue, job lifetime."""
        fields = (
            "max_upload_bytes",
            "max_input_pixels",
            "max_output_pixels",
            "max_queued",
            "workers",
            "job_ttl_s",
        )
        return {name: getattr(options, name) for name in fields}

    @app.post(
        f"{API}/upscale",
        tags=["upscale"],
        dependencies=authorised,
        responses={**_IMAGE, **_ERRORS},
        openapi_extra=_BODY,
        response_class=FileResponse,
    )
    async def upscale(request: Request, query: Annotated[UpscaleQuery, Query()]) -> FileResponse:
        """Upscale one image and answer with the result (raw body or multipart field ``file``)."""
        queue: JobQueue = request.app.state.queue
        job = queue.submit(await _receive(request, query, options, request.app.state.root))
        while not job.finished.is_set():
            if await request.is_disconnected():
                queue.cancel(job.id)
                queue.forget(job.id)
                raise RequestError(400, "the client went away")
            await asyncio.sleep(0.02)
        if job.state != DONE:
            queue.forget(job.id)
        return _result(job, BackgroundTask(queue.forget, job.id))


def _job_routes(app: FastAPI, options: ServeOptions) -> None:
    authorised = [Depends(_token_check(options.token))]
    common = {"tags": ["jobs"], "dependencies": authorised, "responses": _ERRORS}

    @app.post(f"{API}/jobs", status_code=202, openapi_extra=_BODY, **common)
    async def submit(request: Request, query: Annotated[UpscaleQuery, Query()]) -> dict:
        """Queue an upscale; answers its id at once (429 when the queue is full)."""
        job = await _receive(request, query, options, request.app.state.root)
        return request.app.state.queue.submit(job).describe()

    @app.get(f"{API}/jobs/{{job_id}}", **common)
    def progress(request: Request, job_id: str) -> dict:
        """A job's state (queued, running, done, failed, cancelled) and progress (0 to 1)."""
        return request.app.state.queue.get(job_id).describe()

    @app.get(f"{API}/jobs/{{job_id}}/events", response_class=StreamingResponse, **common)
    async def events(request: Request, job_id: str) -> StreamingResponse:
        """The job's state as server-sent events, one on each change, until it ends."""
        job = request.app.state.queue.get(job_id)

        async def stream():
            last = None
            while True:
                shown = json.dumps(job.describe())
                if shown != last:
                    yield f"data: {shown}\n\n"
                    last = shown
                if job.finished.is_set() or await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.get(
        f"{API}/jobs/{{job_id}}/result",
        response_class=FileResponse,
        **{**common, "responses": {**_IMAGE, **_ERRORS}},
    )
    def result(request: Request, job_id: str) -> FileResponse:
        """A finished job's image (409 while it runs; the job's error if it failed)."""
        return _result(request.app.state.queue.get(job_id))

    @app.delete(f"{API}/jobs/{{job_id}}", **common)
    def cancel(request: Request, job_id: str) -> dict:
        """Cancel a job: a queued one at once, a running one at its next tile."""
        return request.app.state.queue.cancel(job_id).describe()
