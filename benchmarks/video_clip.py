"""A synthetic test clip, and the README's still from it.

The clip: a slow pan across assets/sample.png (Chelsea the cat, scikit-image's sample data,
CC0), each frame a window of it resized to the clip's size, H.264 (crf 18, yuv420p) in MP4
with a 440 Hz AAC tone and a title; made with PyAV. ``make_clip`` is what
benchmarks/video_speed.py encodes its inputs with.

The still (``--still``): a 192x128 clip of the cat's own pixels (no resize: the photo is the
low-resolution input) upscaled x4 by ``superres upscale clip.mp4`` (auto: the x4 default),
and one frame shown as the input (bicubic-enlarged, as a player would show it) beside the
result, each cropped to the centre.

Usage: python benchmarks/video_clip.py [--still docs/images/video_still.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "assets/sample.png"


def pan_frames(size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """``frames`` RGB frames of ``size`` (width, height): a window of 80% of the picture's
    height sliding left to right, resized (bicubic) to ``size``."""
    picture = Image.open(SOURCE).convert("RGB")
    width, height = size
    window_h = int(picture.height * 0.8)
    window_w = min(picture.width, round(window_h * width / height))
    out = []
    for index in range(frames):
        left = round((picture.width - window_w) * index / max(1, frames - 1))
        top = (picture.height - window_h) // 2
        crop = picture.crop((left, top, left + window_w, top + window_h))
        out.append(np.asarray(crop.resize(size, Image.Resampling.BICUBIC) if crop.size != size else crop))
    return out


def make_clip(path: Path, size: tuple[int, int], frames: int, *, rate: int = 24) -> Path:
    """Write the pan as an H.264 MP4 with an AAC tone (see the module docstring)."""
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "superres synthetic pan (Chelsea the cat, CC0)"
        video = out.add_stream("libx264", rate=rate, options={"crf": "18"})
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        for index, pixels in enumerate(pan_frames(size, frames)):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = 48000 * frames // rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024]
            frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


def first_frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{path} has no frame {index}")


def still(out: Path) -> None:
    """The README's before/after still (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "cat.mp4", (192, 128), 12)
        command = [sys.executable, "-m", "superres", "upscale", str(clip), "-q"]
        subprocess.run(command, check=True, cwd=ROOT)
        index = 6
        before = Image.fromarray(first_frame(clip, index)).resize((768, 512), Image.Resampling.BICUBIC)
        after = Image.fromarray(first_frame(Path(tmp) / "cat_x4.mp4", index))
    box = (184, 96, 184 + 400, 96 + 320)
    panels = [before.crop(box), after.crop(box)]
    labels = ["input frame 192x128, shown x4 (bicubic)", "superres upscale cat.mp4 (x4)"]
    picture = Image.new("RGB", (2 * 400 + 8, 320 + 24), "white")
    draw = ImageDraw.Draw(picture)
    for column, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        picture.paste(panel, (column * 408, 24))
        draw.text((column * 408 + 4, 6), label, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out, optimize=True)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--still", type=Path, default=ROOT / "docs/images/video_still.png")
    args = parser.parse_args()
    still(args.still)


if __name__ == "__main__":
    main()
