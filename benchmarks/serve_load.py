"""`superres serve` under load: N concurrent clients (threads, each with its own httpx client)
send POST /api/v1/upscale to a server started here on a loopback port (a subprocess, so its
peak memory is its own), for a bounded number of requests or time. Each result is compared
byte for byte with the library's output for the same input (superres.api.upscale_image, then
superres.io.write_image): a result mixed between clients, or any error, fails the run.

Reported: throughput, p50/p99 latency, the server's peak RSS (VmHWM) and the counts.

Usage: python benchmarks/serve_load.py [--model compact-x2-kd] [--clients 8] [--requests 100]
       [--max-seconds 300] [--workers 2] [--size 96x64] [--inputs 8]
Writes benchmarks/SERVE_LOAD.md (the command it ran is printed in it).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from report import markdown_table, write_report

ROOT = Path(__file__).resolve().parents[1]


def inputs(count: int, width: int, height: int) -> list[bytes]:
    """``count`` distinct PNGs: smooth colour patterns with a little noise, each its own."""
    made = []
    for n in range(count):
        rng = np.random.default_rng(n)
        yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
        planes = [
            0.5 + 0.4 * np.sin(rng.uniform(2, 9) * xx * 6.28 + rng.uniform(0, 6)) * np.cos(yy * 9)
            for _ in "rgb"
        ]
        pixels = np.stack(planes, axis=-1) * 255 + rng.normal(0, 4, (height, width, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "PNG")
        made.append(buffer.getvalue())
    return made


def library_outputs(model_name: str, images: list[bytes]) -> list[bytes]:
    """What the library writes for each image (the server must answer exactly these bytes)."""
    from superres.api import upscale_image
    from superres.io import read_image, write_image
    from superres.models import load_model

    model = load_model(model_name)
    outputs = []
    with tempfile.TemporaryDirectory() as folder:
        for n, data in enumerate(images):
            source, target = Path(folder, f"{n}.png"), Path(folder, f"{n}_out.png")
            source.write_bytes(data)
            write_image(target, upscale_image(model, read_image(source)))
            outputs.append(target.read_bytes())
    return outputs


def start_server(model: str, workers: int, clients: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "superres", "serve", "--port", str(port), "--models", model]
    command += ["--workers", str(workers), "--max-queued", str(clients)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server ended: {server.stderr.read()}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer within 120 s")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Load:
    """The shared tally of the clients: the next request's number, latencies, failures."""

    def __init__(self, total: int, deadline: float) -> None:
        self.lock = threading.Lock()
        self.next, self.total, self.deadline = 0, total, deadline
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.mixed = 0

    def take(self) -> int | None:
        with self.lock:
            if self.next >= self.total or time.monotonic() > self.deadline:
                return None
            self.next += 1
            return self.next - 1


def client(url: str, model: str, images: list[bytes], expected: list[bytes], load: Load) -> None:
    with httpx.Client(base_url=url, timeout=300) as http:
        while (n := load.take()) is not None:
            which = n % len(images)
            began = time.perf_counter()
            try:
                response = http.post(
                    f"/api/v1/upscale?model={model}&filename=in{which}.png", content=images[which]
                )
            except httpx.HTTPError as exc:
                with load.lock:
                    load.errors.append(f"request {n}: {type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - began
            with load.lock:
                if response.status_code != 200:
                    load.errors.append(f"request {n}: HTTP {response.status_code} {response.text[:200]}")
                elif response.content != expected[which]:
                    load.mixed += 1
                else:
                    load.latencies.append(elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="compact-x2-kd")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", default="96x64", help="input WIDTHxHEIGHT")
    parser.add_argument("--inputs", type=int, default=8, help="distinct input images")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "SERVE_LOAD.md")
    parser.add_argument("--note", default="", help="a sentence added to the report (what else ran)")
    args = parser.parse_args()
    command = "python benchmarks/serve_load.py " + shlex.join(sys.argv[1:])
    width, height = map(int, args.size.split("x"))
    images = inputs(args.inputs, width, height)
    expected = library_outputs(args.model, images)
    server, url = start_server(args.model, args.workers, args.clients)
    try:
        load = Load(args.requests, time.monotonic() + args.max_seconds)
        threads = [
            threading.Thread(target=client, args=(url, args.model, images, expected, load))
            for _ in range(args.clients)
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        rss = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    write_report(args.out, report(args, command, load, wall, rss))
    return 1 if load.errors or load.mixed or not load.latencies else 0


def report(args: argparse.Namespace, command: str, load: Load, wall: float, rss: float) -> list[str]:
    done = len(load.latencies)
    latencies = sorted(load.latencies) or [float("nan")]
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    header = ["clients", "workers", "model", "input", "requests", "ok", "errors", "mixed"]
    header += ["req/s", "p50 ms", "p99 ms", "server peak RSS MiB"]
    row = [str(args.clients), str(args.workers), args.model, args.size, str(load.next), str(done)]
    row += [str(len(load.errors)), str(load.mixed), f"{done / wall:.2f}"]
    row += [f"{statistics.median(latencies) * 1000:.0f}", f"{p99 * 1000:.0f}", f"{rss:.0f}"]
    lines = [
        "# `superres serve` under load",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')} ({platform.machine()}, {os.cpu_count()} CPUs,"
        f" {wall:.1f} s). Each result was compared byte for byte with the library's output for its input;"
        " 'mixed' counts results that were another input's or wrong.",
        "",
        *markdown_table(header, [row]),
        "",
        *([args.note, ""] if args.note else []),
    ]
    lines += [f"- {error}" for error in load.errors[:10]]
    return lines


if __name__ == "__main__":
    sys.exit(main())
