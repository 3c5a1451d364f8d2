"""How fast does ``superres upscale clip.mp4`` run, against upscaling frame by frame through
PNG files? For 480p -> x2 and 360p -> x4, with the scale's default model and the fastest
shipped tier (compact-xN-kd), each clip of --frames frames (benchmarks/video_clip.py's pan,
H.264 crf 18 with an AAC track):

- video: ``superres.video.upscale_video`` (decode, upscale and encode overlapped in threads,
  frames streamed, audio copied), H.264 crf 18 out, as ``superres upscale clip.mp4 -m MODEL``;
- PNG: every frame extracted with PyAV to a PNG, each PNG upscaled by
  ``superres.api.upscale_file`` (the library path of ``superres upscale frame.png``), the
  results read back and encoded with the same encoder and settings (no audio).

Both run in the same process, one after the other per model, with ``auto`` precision (bf16
for the shipped models on CPUs with native bf16). A second table times the network over a
batch of 4 tiles against 4 single tiles (192x192, the CPU tile cap), which decides whether
frames are batched through the network.

Usage: python benchmarks/video_speed.py [--frames 24] [--threads 2]
Writes benchmarks/VIDEO_SPEED.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import torch
from default_speed import cpu_name
from report import markdown_table, write_report, written_by
from video_clip import make_clip

from superres.api import upscale_file
from superres.io import ImageData, read_image, write_image
from superres.models import cpu_has_native_bf16, default_model_name, load_model
from superres.video import upscale_video

ROOT = Path(__file__).resolve().parents[1]
CASES = (("480p", (854, 480), 2), ("360p", (640, 360), 4))
RATE = 24


def through_pngs(model, clip: Path, folder: Path) -> Path:
    """Extract, upscale each PNG, re-encode (see the module docstring); the output path."""
    frames = []
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            path = write_image(folder / f"f{index:05d}.png", ImageData(frame.to_ndarray(format="rgb24")))
            frames.append(path)
    upscaled = [upscale_file(model, path, path.with_name(f"{path.stem}_up.png")) for path in frames]
    target = folder / "png_path.mp4"
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=RATE, options={"crf": "18"})
        first = read_image(upscaled[0]).pixels
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        for index, path in enumerate(upscaled):
            frame = av.VideoFrame.from_ndarray(read_image(path).pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return target


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def speed_rows(frames: int) -> list[list[str]]:
    rows = []
    for label, size, scale in CASES:
        for name in (default_model_name(scale), f"compact-x{scale}-kd"):
            model = load_model(name, scale=scale)
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                clip = make_clip(folder / "clip.mp4", size, frames, rate=RATE)
                video = timed(lambda: upscale_video(model, clip, folder / "out.mp4"))  # noqa: B023
                pngs = timed(lambda: through_pngs(model, clip, folder))  # noqa: B023
            out = f"{size[0] * scale}x{size[1] * scale}"
            rows.append(
                [f"{label} {size[0]}x{size[1]} -> x{scale} ({out})", f"{name} ({model.precision})",
                 f"{frames / video:.2f}", f"{frames / pngs:.2f}", f"{pngs / video:.2f}x"]
            )  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def batch_rows(rounds: int = 3) -> list[list[str]]:
    """ms per 192x192 tile, batch 1 (4 calls) against one batch of 4, interleaved rounds."""
    rows = []
    for name in ("rlfn-s-x2", "compact-x2-kd", "rlfn-s-x4", "compact-x4-kd"):
        model = load_model(name)
        single, batch = torch.rand(1, 3, 192, 192), torch.rand(4, 3, 192, 192)
        times: dict[str, list[float]] = {"1": [], "4": []}
        with torch.inference_mode():
            model(single), model(batch)  # warm-up
            for _ in range(rounds):
                times["1"].append(timed(lambda: [model(single) for _ in range(4)]) / 4)  # noqa: B023
                times["4"].append(timed(lambda: model(batch)) / 4)  # noqa: B023
        one, four = (statistics.median(times[k]) * 1000 for k in ("1", "4"))
        rows.append([f"{name} ({model.precision})", f"{one:.0f}", f"{four:.0f}", f"{one / four:.2f}x"])
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began, load = time.perf_counter(), os.getloadavg()[0]
    rows = speed_rows(args.frames)
    batches = batch_rows()
    load = max(load, os.getloadavg()[0])
    lines = [
        "# Video upscaling speed",
        "",
        written_by(f"video_speed.py --frames {args.frames}", (time.perf_counter() - began) / 60),
        f"CPU: {cpu_name()}, {args.threads} threads, {os.cpu_count()} cores visible, native bf16:"
        f" {cpu_has_native_bf16()}; torch {torch.__version__}, PyAV {av.__version__}. Load average"
        f" (1 min) up to {load:.1f} during the run: the cores were shared with other work, so the"
        " numbers are lower than on an idle machine; the ratio (same process, one after the"
        " other) is the comparison.",
        "",
        f"Clips: benchmarks/video_clip.py's pan, {args.frames} frames at {RATE} fps, H.264 crf 18 + AAC.",
        "",
        *markdown_table(["clip", "model", "video fps", "PNG path fps", "video / PNG"], rows),
        "",
        "Network over 192x192 tiles (ms per tile): 4 single calls against one batch of 4.",
        "",
        *markdown_table(["model", "batch 1", "batch 4", "speed-up"], batches),
    ]
    write_report(ROOT / "benchmarks/VIDEO_SPEED.md", lines)


if __name__ == "__main__":
    main()
