"""A raster several chunks large upscaled on a local Dask cluster with 1 and 2 worker
processes (one thread each), written as a COG block by block: wall time, peak memory of the
driver and of each worker above its idle size (set against the full output's size, to show
it stays bounded), and the result against the single-machine ``superres upscale`` of the
same GeoTIFF (which holds the whole output, for contrast).

GDAL's block cache is set to 64 MB (``GDAL_CACHEMAX``; its default, 5% of the memory, would
count as the driver's and workers' growth).

Usage: nice python benchmarks/dask_raster.py [--size 1536] [--chunk 512] [--model rlfn-s-x2]
[--report benchmarks/DASK_RASTER.md]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dask
import numpy as np
import psutil
import rasterio
import rioxarray
from distributed import Client, LocalCluster
from rasterio.transform import from_origin
from report import markdown_table, write_report, written_by

import superres
from superres.api import upscale_file
from superres.cluster.dask import upscale, write_cog

MB = 1 << 20


class PeakRss:
    """The largest resident size of some processes above their size at the start, sampled."""

    def __init__(self, pids: list[int]) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self.start = [p.memory_info().rss for p in self.processes]
        self.peak = list(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for index, process in enumerate(self.processes):
                self.peak[index] = max(self.peak[index], process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mb(self) -> list[float]:
        return [(peak - start) / MB for peak, start in zip(self.peak, self.start, strict=True)]


def make_raster(path: Path, size: int) -> None:
    """3 bands of uint16, size x size, smooth fields with noise (a satellite scene's look)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size]
    bands = [20000 + 15000 * np.sin(x / (17 + 3 * b)) * np.cos(y / (23 - 2 * b)) for b in range(3)]
    pixels = np.clip(np.stack(bands) + rng.normal(0, 1500, (3, size, size)), 1, 60000).astype(np.uint16)
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint16", crs="EPSG:32633",
                   transform=from_origin(500000, 4200000, 30, 30), tiled=True)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(pixels)


# Dask's nanny gives workers MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap threshold
# at 128 KiB: every large tensor is then a fresh mmap, and torch's CPU inference ran 1.7x slower
# (docs/dask.md, "Worker memory allocator"). A 32 MiB mmap threshold gives the speed back.
WORKER_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": 32 << 20}


def run_dask(workers: int, source: Path, target: Path, model: str, chunk: int) -> dict:
    """Upscale ``source`` on a fresh LocalCluster of ``workers`` processes into a COG."""
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENVIRON.items()}
    with dask.config.set(environ):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster, Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        threads = set(client.run(lambda: __import__("torch").get_num_threads()).values())
        data = rioxarray.open_rasterio(source, chunks={"band": -1, "x": chunk, "y": chunk})
        with PeakRss([os.getpid(), *pids]) as memory:
            start = time.perf_counter()
            result = upscale(data, model=model)
            write_cog(result, target, in_flight=2 * workers, overwrite=True)
            seconds = time.perf_counter() - start
    return {"seconds": seconds, "memory": memory.growth_mb(), "threads": threads}


def cpu_name() -> str:
    """lscpu's model name."""
    listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    names = [line.split(":", 1)[1].strip() for line in listing.splitlines() if line.startswith("Model name")]
    return names[0] if names else "unknown"


def table(runs: dict, single: dict) -> list[str]:
    """The report's table: seconds, speed-up and memory of each run."""
    rows = []
    for n, run in runs.items():
        workers = " / ".join(f"{m:.0f}" for m in run["memory"][1:])
        speed_up = runs[1]["seconds"] / run["seconds"]
        name = f"Dask, {n} worker{'s' * (n > 1)}"
        rows.append([name, f"{run['seconds']:.1f}", f"{speed_up:.2f}", f"{run['memory'][0]:.0f}", workers])
    seconds, memory = f"{single['seconds']:.1f}", f"{single['memory']:.0f}"
    rows.append(["single machine (`upscale_file`)", seconds, "", memory, ""])
    return markdown_table(["run", "seconds", "speed-up", "driver MB", "worker MB"], rows)


def compare(single: Path, dask: Path) -> tuple[int, str | None, list[int]]:
    """Largest difference of the two results, and the Dask COG's layout and overviews."""
    with rasterio.open(single) as a, rasterio.open(dask) as b:
        difference = int(np.abs(a.read().astype(int) - b.read().astype(int)).max())
        return difference, b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"), b.overviews(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1536)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--model", default="rlfn-s-x2")
    parser.add_argument("--report", type=Path, default=Path(__file__).with_name("DASK_RASTER.md"))
    args = parser.parse_args()
    os.environ["GDAL_CACHEMAX"] = "64"  # MB, in this process and the workers it starts
    began, load_before = time.perf_counter(), os.getloadavg()
    sr_model = superres.load_model(args.model)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "scene.tif"
        make_raster(source, args.size)
        runs = {n: run_dask(n, source, Path(folder) / f"dask{n}.tif", args.model, args.chunk) for n in (1, 2)}
        with PeakRss([os.getpid()]) as memory:
            start = time.perf_counter()
            upscale_file(sr_model, source, Path(folder) / "single.tif")
            single = {"seconds": time.perf_counter() - start}
        single["memory"] = memory.growth_mb()[0]
        difference, layout, overviews = compare(Path(folder) / "single.tif", Path(folder) / "dask2.tif")
    load_after = os.getloadavg()
    out_mb = 3 * 2 * (args.size * sr_model.scale) ** 2 / MB
    minutes = (time.perf_counter() - began) / 60
    chunks = math.ceil(args.size / args.chunk) ** 2
    lines = [
        "# A raster upscaled on Dask: 1 vs 2 workers",
        "",
        f"{written_by('dask_raster.py', minutes)} CPU: {cpu_name()}, {os.cpu_count()} cores; load average"
        f" {load_before[0]:.1f} before, {load_after[0]:.1f} after"
        f"{' (the machine was shared)' if load_before[0] >= (os.cpu_count() or 1) else ''}.",
        "",
        f"A 3-band uint16 {args.size} x {args.size} GeoTIFF in {chunks} chunks of"
        f" {args.chunk} x {args.chunk}, {args.model} (x{sr_model.scale}): the output is {out_mb:.0f} MB of"
        f" uint16 ({2 * out_mb:.0f} MB as float32). Dask: `superres.cluster.dask.upscale` on a rioxarray"
        " DataArray, then `write_cog` (blocks computed 2 per worker at a time, written by the driver);"
        f" worker processes of one thread each (torch threads per worker: {runs[2]['threads']}), their"
        f" environment also given {', '.join(f'{k}={v}' for k, v in WORKER_ENVIRON.items())}.",
        "Memory: peak resident size above the size before the run, in MB (GDAL's block cache: 64 MB).",
        "",
        *table(runs, single),
        "",
        f"The Dask result (2 workers) against the single-machine one: largest difference {difference}"
        f" (of 65,535); the COG: LAYOUT={layout}, overviews {overviews}.",
        "",
    ]
    write_report(args.report, lines)


if __name__ == "__main__":
    main()
