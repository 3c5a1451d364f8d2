"""Bounded memory: the peak RSS of upscaling a clip does not grow with its length."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.video.clips import Clip, make_clip

ROOT = Path(__file__).resolve().parents[2]
# One process upscales the short clip, then the long one: the peak after the short one is what
# a clip of any length should need; the long one must not raise it by what its frames weigh.
# The peak is VmHWM (this process's own high-water mark; ru_maxrss can carry a forking
# parent's).
CHILD = """
import json, sys
from superres.models import load_model
from superres.video import upscale_video

def peak():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

model = load_model("bicubic", scale=2)
peaks = [peak()]
for source in sys.argv[1:]:
    upscale_video(model, source, source.replace(".mkv", "_x2.mkv"))
    peaks.append(peak())
print(json.dumps(peaks))
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_clip(tmp_path):
    size, frames = (160, 120), 200  # the long clip's upscaled frames: 44 MiB if all were held
    short = make_clip(tmp_path / "short.mkv", Clip(frames=15, size=size, pix_fmt="yuv420p"))
    long = make_clip(tmp_path / "long.mkv", Clip(frames=frames, size=size, pix_fmt="yuv420p"))
    command = [sys.executable, "-c", CHILD, str(short), str(long)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    start, after_short, after_long = json.loads(result.stdout.splitlines()[-1])
    held = frames * 320 * 240 * 3 / 2**20
    assert after_short > start  # the measure sees the work
    assert after_long - after_short < held / 2, (
        f"MiB: {start:.0f} at start, {after_short:.0f}, {after_long:.0f}"
    )
