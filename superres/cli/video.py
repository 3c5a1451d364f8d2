"""The video part of ``superres upscale``: its options, and one video job of a batch
(:func:`superres.video.upscale_video`). Importing this module imports neither av nor torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from superres.cli.common import non_negative, one_line, positive
from superres.errors import SuperresError
from superres.video.options import SEGMENT_FRAMES, VIDEO_SUFFIXES, FrameRange, VideoOptions, is_video

if TYPE_CHECKING:
    from superres.api import UpscaleOptions
    from superres.batch import PlannedJob
    from superres.engine.auto import AutoModels
    from superres.models import SRModel

CONTAINERS = ", ".join(sorted(VIDEO_SUFFIXES))


def add_video_options(up: argparse.ArgumentParser) -> None:
    """--codec, --crf, --pix-fmt, --frames, --start, --duration, --resume, --segment-frames."""
    group = up.add_argument_group(f"video ({CONTAINERS}; needs superres[video])")
    group.add_argument(
        "--codec",
        help="video encoder, e.g. h264, hevc, av1, vp9, ffv1 (lossless), libx264rgb (default: the"
        " input's codec where it can be encoded and the container holds it, else h264; vp9 for .webm)",
    )
    group.add_argument(
        "--crf",
        type=non_negative(int),
        help="constant rate factor of the encoder (default: h264 18, hevc 20, vp9 24, av1 30)",
    )
    group.add_argument("--pix-fmt", help="encoded pixel format, e.g. yuv420p10le (default: the input's)")
    group.add_argument(
        "--frames", metavar="A:B", type=_frames, help="upscale frames A to B-1 only (a preview)"
    )
    group.add_argument("--start", type=non_negative(float), help="upscale from this many seconds in")
    group.add_argument("--duration", type=positive(float), help="upscale this many seconds")
    group.add_argument(
        "--resume",
        action="store_true",
        help="keep the segments a killed run finished (in .NAME.superres-video beside the output)",
    )
    group.add_argument(
        "--segment-frames",
        type=positive(int),
        default=SEGMENT_FRAMES,
        help=f"frames per resumable segment with --resume (default {SEGMENT_FRAMES})",
    )


def _frames(text: str) -> str:
    try:
        FrameRange.parse(text, None, None)
    except SuperresError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def video_options(args: argparse.Namespace) -> VideoOptions:
    """The video options the command line gives."""
    return VideoOptions(
        codec=args.codec,
        crf=args.crf,
        pix_fmt=args.pix_fmt,
        frames=FrameRange.parse(args.frames, args.start, args.duration),
        resume=args.resume,
        segment_frames=args.segment_frames,
    )


def check_kinds(job: PlannedJob) -> bool:
    """Whether ``job`` is a video job; SuperresError when its input and output are not of one
    kind (a video to an image file, or an image to a video file)."""
    source, target = is_video(job.source), is_video(job.target)
    if source and not target:
        raise SuperresError(
            f"a video's output must be a video file ({CONTAINERS}), not {job.target.name}", job.source
        )
    if target and not source:
        raise SuperresError(f"an image's output must be an image file, not {job.target.name}", job.source)
    return source


def run_video_job(
    job: PlannedJob,
    model: SRModel | AutoModels,
    options: UpscaleOptions,
    video: VideoOptions,
    *,
    hidden: bool,
    quiet: bool,
) -> None:
    """Upscale one video, with a progress bar of frames (fps, ETA)."""
    from tqdm import tqdm

    try:
        from superres.video.run import upscale_video
    except ImportError as exc:
        raise SuperresError(f"video needs PyAV: pip install 'superres[video]' ({exc})", job.source) from None
    bar = tqdm(total=0, desc=one_line(job.source.name), unit="frame", leave=False, disable=hidden)

    def on_frame(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        result = upscale_video(
            model, job.source, job.target, options, video=video, on_frame=on_frame, overwrite=True
        )
    finally:
        bar.close()
    if not quiet:
        resumed = f", resumed at frame {result.resumed_at}" if result.resumed_at else ""
        line = f"{one_line(job.source)}: {result.frames} frames with {result.model.name}{resumed}"
        tqdm.write(line, file=sys.stderr)


def video_target(output: str | None) -> bool:
    """Whether ``-o`` names a video file."""
    return bool(output) and is_video(output) and not Path(output).is_dir()
