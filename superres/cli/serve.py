"""``superres serve``: the HTTP API and web page of :mod:`superres.serve`, on this machine
by default; served elsewhere only with a token."""

from __future__ import annotations

import argparse
import os
import sys

from superres.cli.common import positive, report_error


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve an HTTP API and a web page for upscaling (needs superres[serve])",
        description="Serve the upscaling API (/api/v1, OpenAPI at /api/v1/openapi.json) and a web page (/)."
        " Binds to 127.0.0.1 by default; any other address needs a token (--token or SUPERRES_TOKEN),"
        " which API calls then send as 'Authorization: Bearer TOKEN'.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        default=(),
        help="models offered: shipped names, auto, bicubic or weight files"
        " (default: auto, every shipped model and bicubic)",
    )
    serve.add_argument("--workers", type=positive(int), default=1, help="upscales run at once (default: 1)")
    serve.add_argument("--token", default=None, help="API token (default: $SUPERRES_TOKEN)")
    serve.add_argument(
        "--max-queued", type=positive(int), default=8, help="jobs waiting at most (default: 8)"
    )
    serve.add_argument(
        "--max-upload-mb", type=positive(float), default=32, help="largest request body in MiB (default: 32)"
    )
    serve.add_argument(
        "--max-pixels", type=positive(int), default=16_000_000, help="largest input in pixels (default: 16e6)"
    )
    serve.add_argument(
        "--max-output-pixels",
        type=positive(int),
        default=64_000_000,
        help="largest result in pixels (default: 64e6)",
    )
    serve.add_argument(
        "--job-ttl",
        type=positive(float),
        default=600,
        help="seconds a finished job's result is kept (default: 600)",
    )
    serve.add_argument("--device", default="cpu", help="device the models run on (default: cpu)")
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from superres.errors import SuperresError
    from superres.serve import ServeOptions, check_binding
    from superres.serve.options import TOKEN_VARIABLE

    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    try:
        check_binding(args.host, token)
        options = ServeOptions(
            models=tuple(args.models),
            workers=args.workers,
            max_queued=args.max_queued,
            max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
            max_input_pixels=args.max_pixels,
            max_output_pixels=args.max_output_pixels,
            job_ttl_s=args.job_ttl,
            token=token,
            device=args.device,
        )
    except SuperresError as exc:
        report_error(exc)
        return 2
    try:
        import uvicorn

        from superres.serve.app import create_app
    except ImportError as exc:
        report_error(
            f"superres serve needs FastAPI and uvicorn ({exc.name} is missing): pip install 'superres[serve]'"
        )
        return 2
    try:
        app = create_app(options)
    except SuperresError as exc:
        report_error(exc)
        return 2
    print(f"superres serve: http://{args.host}:{args.port}/ (API: /api/v1, Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
