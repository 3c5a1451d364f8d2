"""One video upscaled: probe, encode the upscaled frames into the work folder's segments
(decoding, upscaling and encoding overlapped), remux them with the input's other streams
into the output, remove the work folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from superres.api import check_output_size, upscale_image
from superres.atomic import written_by_superres
from superres.engine.auto import AutoModels
from superres.engine.options import UpscaleOptions
from superres.engine.rows import result_size
from superres.errors import SuperresError
from superres.io import ImageData
from superres.models import SRModel
from superres.video.encode import SegmentPlan, SegmentWriter
from superres.video.frames import Frame, selected_frames
from superres.video.options import VideoOptions, is_video
from superres.video.pipeline import run_pipeline
from superres.video.probe import Encoding, VideoInfo, check_frame_size, choose_encoding, probe
from superres.video.remux import Window, remux
from superres.video.segments import WorkFolder

FrameCallback = Callable[[int, int], None]  # (frames done, frames in all, or 0 when unknown)


@dataclass(frozen=True)
class VideoResult:
    path: Path
    model: SRModel
    frames: int  # frames upscaled in this run (those of kept segments not counted)
    resumed_at: int  # the first frame this run upscaled (0: it started at the beginning)


def upscale_video(
    model: SRModel | AutoModels,
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    options: UpscaleOptions = UpscaleOptions(),
    *,
    video: VideoOptions | None = None,
    on_frame: FrameCallback | None = None,
    overwrite: bool = False,
) -> VideoResult:
    """Upscale every selected frame of video ``source`` with ``model`` (or the model ``auto``
    picks for its first frame) as :func:`superres.api.upscale_image` upscales an image, and
    write ``target`` with the input's other streams copied (module docstrings of
    :mod:`superres.video` say what is kept). An existing ``target`` is replaced only if
    superres wrote it, or with ``overwrite``."""
    source, target = Path(source), Path(target)
    video = video or VideoOptions()
    info = _checked_probe(source, target, options, overwrite=overwrite)
    model = _model_for(model, source, info, video)
    width, height = _output_size(model, info, options, source)
    encoding = choose_encoding(info, video, target)
    check_frame_size(encoding, width, height, source=source)
    folder = WorkFolder.for_output(target)
    per_segment = video.segment_frames if video.resume else None
    job = _job(source, model, options, video, encoding)
    kept = folder.prepare(job, resume=video.resume)
    skip = kept * per_segment if per_segment else 0
    plan = SegmentPlan(folder, encoding, info, (width, height), per_segment, from_zero=not video.frames.whole)
    writer = SegmentWriter(plan)
    total = _frame_total(info, video)
    done = [0]

    def upscale(frame: Frame) -> tuple[Frame, np.ndarray | None]:
        if frame.pixels is None:
            return frame, None
        return frame, upscale_image(model, ImageData(frame.pixels, False), options).pixels

    def consume(item: tuple[Frame, np.ndarray | None]) -> None:
        writer(item)
        done[0] = item[0].index + 1
        if on_frame is not None:
            on_frame(done[0], max(total, done[0]))

    try:
        try:
            frames = selected_frames(source, info, video.frames, skip=skip)
            run_pipeline(frames, upscale, consume, depth=video.queue)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        remux(source, folder.segments(), target, info=info, window=_window(info, video, writer))
    except BaseException:
        if not video.resume:  # nothing to resume from: leave no work folder behind
            folder.remove()
        raise
    folder.remove()
    return VideoResult(target, model, done[0] - skip, skip)


def _output_size(model: SRModel, info: VideoInfo, options: UpscaleOptions, source: Path) -> tuple[int, int]:
    """(width, height) of the upscaled frames, checked against ``max_output_pixels``."""
    blank = np.broadcast_to(np.uint8(0), (info.height, info.width, 3))  # the frame's shape, no pixels
    height, width = result_size(model, blank, options.outscale)
    check_output_size(height, width, limit=options.output_pixel_limit, source=source)
    return width, height


def _model_for(model: SRModel | AutoModels, source: Path, info: VideoInfo, video: VideoOptions) -> SRModel:
    """``model``, or ``auto``'s pick for the first selected frame."""
    if isinstance(model, SRModel):
        return model
    first = next(selected_frames(source, info, video.frames))
    return model.for_pixels(first.pixels, source=None)[0]


def _checked_probe(source: Path, target: Path, options: UpscaleOptions, *, overwrite: bool) -> VideoInfo:
    """``source``'s description, once the job is known to be allowed (SuperresError if not)."""
    if not is_video(target):
        raise SuperresError(f"a video's output must be a video file ({target.name} is not)", source)
    if (target.exists() or target.is_symlink()) and not overwrite and not written_by_superres(target):
        raise SuperresError(f"output {target} exists and superres did not write it", source)
    info = probe(source)
    if info.width * info.height > options.max_pixels:
        raise SuperresError(f"its {info.width}x{info.height} frames are over --max-pixels", source)
    return info


def _job(
    source: Path, model: SRModel, options: UpscaleOptions, video: VideoOptions, encoding: Encoding
) -> dict:
    """What the segments are made from and how, as JSON data (``--resume`` keeps segments
    only of the same job)."""
    stat = source.stat()
    return {
        "input": str(source.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "model": [model.name, model.scale, str(model.precision)],
        "options": repr(options),
        "frames": asdict(video.frames),
        "segment_frames": video.segment_frames,
        "encoding": asdict(encoding),
    }


def _frame_total(info: VideoInfo, video: VideoOptions) -> int:
    """The frames selected, as far as the container says (0: not known)."""
    total = info.frames or (round(info.duration * info.rate) if info.duration and info.rate else 0)
    limits = video.frames
    if limits.stop is not None:
        total = min(total, limits.stop) if total else limits.stop
    if limits.duration is not None and info.rate:
        by_time = round(limits.duration * info.rate)
        total = min(total, by_time) if total else by_time
    return max(0, total - limits.first) if total else 0


def _window(info: VideoInfo, video: VideoOptions, writer: SegmentWriter) -> Window:
    """The input time the other streams keep: all of it, or that of the selected frames
    (to the end of the last one), shifted to start at zero."""
    if video.frames.whole:
        return Window()
    tick = 1 / info.rate if info.rate else Fraction(0)
    start = writer.first_pts * info.time_base
    return Window(start, writer.last_pts * info.time_base + tick, start)
