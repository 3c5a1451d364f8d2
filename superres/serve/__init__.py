"""``superres serve``: an HTTP API and a web page over the library, in one process.

:mod:`superres.serve.options` (the server's settings, no web imports), :mod:`.pool` (the
models offered, each loaded once and shared by the worker threads), :mod:`.jobs` (a bounded
queue of upscale jobs run by worker threads, cancelled and expired), :mod:`.work` (one job:
read, check, upscale, write, through :mod:`superres.api`), :mod:`.body` (a request body read
under a byte cap into the server's own folder, multipart parsed there) and :mod:`.app` (the
FastAPI application and its routes). The web page is the static files in ``static/``.

Importing this package imports neither FastAPI nor torch; :func:`superres.serve.app.create_app`
does (``pip install superres[serve]``).
"""

from __future__ import annotations

from superres.serve.options import ServeOptions, check_binding

__all__ = ["ServeOptions", "check_binding"]
