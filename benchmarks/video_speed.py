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
854x480 frame with its tiles (192 px, the CPU cap) one at a time against batches of 4
(``superres.engine.tiles.CPU_TILE_BATCH``), which decided that tiles are batched.

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
from video_clip import make_clip, pan_frames

from superres.api import upscale_file
from superres.engine import tiles
from superres.io import ImageData, read_image, write_image
from superres.models import cpu_has_native_bf16, default_model_name, load_model
from superres.video import upscale_video

ROOT = Path(__file__).resolve().parents[1]
CASES = (("480p", (854, 480), 2), ("360p", (640, 360), 4))
RATE = 24
SHARED_NOTE = (
    ": the cores were shared with other work, so the numbers are lower than on an idle machine;"
    " the ratio (same process, one after the other) is the comparison"
)


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
    """Seconds per 854x480 frame through the engine's tiler (``upscale_tensor``, automatic
    tiles), tiles one at a time against batches of 4, interleaved rounds; max difference."""
    rows = []
    frame = torch.from_numpy(pan_frames((854, 480), 1)[0].transpose(2, 0, 1) / 255).float()[None]
    for name in ("rlfn-s-x2", "compact-x2-kd"):
        model = load_model(name)
        times: dict[int, list[float]] = {1: [], 4: []}
        outputs = {}
        with torch.inference_mode():
            for index in range(rounds):
                for batch in (1, 4) if index % 2 else (4, 1):
                    tiles.CPU_TILE_BATCH = batch
                    start = time.perf_counter()
                    outputs[batch] = tiles.upscale_tensor(model, frame)
                    times[batch].append(time.perf_counter() - start)
        tiles.CPU_TILE_BATCH = 4
        one, four = (statistics.median(times[k]) for k in (1, 4))
        difference = (outputs[1] - outputs[4]).abs().max().item()
        rows.append(
            [
                f"{name} ({model.precision})",
                f"{one:.2f}",
                f"{four:.2f}",
                f"{one / four:.2f}x",
                f"{difference:.1e}",
            ]
        )
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
        f" (1 min) up to {load:.1f} during the run{SHARED_NOTE if load > args.threads + 0.5 else ''}.",
        "",
        f"Clips: benchmarks/video_clip.py's pan, {args.frames} frames at {RATE} fps, H.264 crf 18 + AAC.",
        "",
        *markdown_table(["clip", "model", "video fps", "PNG path fps", "video / PNG"], rows),
        "",
        "An 854x480 frame through the tiler (seconds, median of 3 interleaved rounds): tiles one"
        " at a time against batches of 4, and the largest difference between the two outputs.",
        "",
        *markdown_table(
            ["model", "tiles one by one (s)", "batches of 4 (s)", "speed-up", "max difference"], batches
        ),
    ]
    write_report(ROOT / "benchmarks/VIDEO_SPEED.md", lines)


if __name__ == "__main__":
    main()
