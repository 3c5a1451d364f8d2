"""`superres serve` as a command (a subprocess), and where a large upload is written."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from superres.serve import ServeOptions
from tests.serve.conftest import serve


@pytest.mark.slow
def test_the_command_serves_and_stops(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the server's folder is made here: seen, then gone
    command = [sys.executable, "-m", "superres", "serve", "--port", str(port), "--models", "bicubic"]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        models = httpx.get(f"http://127.0.0.1:{port}/api/v1/models").json()["models"]
        assert health.json()["status"] == "ok" and [m["name"] for m in models] == ["bicubic"]
        assert [p.name.startswith("superres-serve-") for p in tmp_path.iterdir()] == [True]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []


def test_a_large_multipart_upload_goes_only_to_the_servers_folder(tmp_path, monkeypatch):
    """Over python-multipart's 1 MiB in-memory default, a part would spill to the system's
    temporary folder; here it must not: nothing asks for that folder while the request runs."""
    running = serve(ServeOptions(models=("bicubic",), max_upload_bytes=8 * 1024 * 1024))
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    asked: list[str] = []
    monkeypatch.setattr(tempfile, "gettempdir", lambda: asked.append("gettempdir") or str(system_tmp))
    noise = np.random.default_rng(0).integers(0, 256, (800, 900, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG", compress_level=0)
    assert buffer.tell() > 2 * 1024 * 1024
    try:
        with running.client() as client:
            job = client.post(
                "/api/v1/jobs?model=none", files={"file": ("big.png", buffer.getvalue())}
            ).json()
            while client.get(f"/api/v1/jobs/{job['id']}").json()["state"] in ("queued", "running"):
                time.sleep(0.05)
            failed = client.get(f"/api/v1/jobs/{job['id']}").json()
    finally:
        running.stop()
    assert failed["error"]["status"] == 404
    assert asked == [] and list(system_tmp.iterdir()) == []
