"""A real uvicorn server on a free loopback port, in a thread, serving a tiny x2 network
(random weights, built here) and bicubic, with small limits so the tests can reach them."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from superres.archs import build_network
from superres.serve import ServeOptions
from tests.conftest import smooth_image

TINY = {"scale": 2, "num_feat": 8, "num_conv": 2}
LIMITS = {"max_upload_bytes": 300_000, "max_input_pixels": 100_000, "max_output_pixels": 500_000}


@dataclass
class Served:
    """A running server: its base URL, its app (``app.state.root`` is its temporary folder)."""

    url: str
    app: object
    server: object
    thread: threading.Thread

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve(options: ServeOptions) -> Served:
    """Start ``create_app(options)`` on a free 127.0.0.1 port; returns once it answers."""
    import uvicorn

    from superres.serve.app import create_app

    app = create_app(options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return Served(f"http://127.0.0.1:{port}", app, server, thread)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny_x2.pth"
    with torch.random.fork_rng():
        torch.manual_seed(1)
        torch.save(build_network("srvgg", **TINY).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def served(tiny_weights) -> Iterator[Served]:
    running = serve(ServeOptions(models=(str(tiny_weights), "bicubic"), workers=2, max_queued=16, **LIMITS))
    yield running
    running.stop()


def png_bytes(height: int, width: int, seed: int = 0, channels: int = 3) -> bytes:
    buffer = io.BytesIO()
    pixels = smooth_image(height, width, channels, seed=seed)
    Image.fromarray(pixels if channels > 1 else pixels[:, :, 0]).save(buffer, "PNG")
    return buffer.getvalue()


def library_result(weights: Path | str, data: bytes, tmp_path: Path, *, suffix: str = ".png") -> bytes:
    """What the library writes for ``data`` upscaled by ``weights`` (a path or a model name)."""
    from superres.api import upscale_image
    from superres.io import read_image, write_image
    from superres.models import load_model

    source = tmp_path / f"library_in{suffix}"
    source.write_bytes(data)
    target = tmp_path / f"library_out{suffix}"
    write_image(target, upscale_image(load_model(str(weights)), read_image(source)))
    return target.read_bytes()


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))
