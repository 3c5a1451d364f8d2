"""A video's frames as arrays and back: the selected frames decoded in order, each as RGB
(8-bit, or 16-bit for a deeper input), and an upscaled array as a frame in the encoder's
pixel format with the input's colour tags."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from superres.errors import SuperresError
from superres.video.options import FrameRange
from superres.video.probe import Encoding, VideoInfo, av_error, open_video, video_stream

FULL_RANGE = 2  # AVCOL_RANGE_JPEG: what RGB arrays hold


@dataclass(frozen=True)
class Frame:
    """A selected frame: ``index`` among the selected ones, ``pts`` in the input stream's
    time base, ``pixels`` H x W x 3 (None for a frame a finished segment holds already)."""

    index: int
    pts: int
    pixels: np.ndarray | None


def selected_frames(
    path: str | Path, info: VideoInfo, frames: FrameRange, *, skip: int = 0
) -> Iterator[Frame]:
    """The frames ``frames`` selects, decoded in presentation order; the first ``skip`` of
    them come without pixels (they are decoded, not converted). A decoding error is a
    SuperresError naming ``path``."""
    with open_video(path) as container:
        stream = video_stream(container)
        stream.thread_type = "AUTO"
        selected, first_pts, previous = 0, None, -1
        try:
            for number, frame in enumerate(container.decode(stream)):
                pts = frame.pts if frame.pts is not None else _guessed_pts(number, info)
                pts = max(pts, previous + 1)  # a repeated or missing timestamp: the next tick
                previous = pts
                first_pts = pts if first_pts is None else first_pts
                where = frames.position(number, float((pts - first_pts) * info.time_base))
                if where < 0:
                    continue
                if where > 0:
                    break
                pixels = None if selected < skip else to_pixels(frame, info)
                yield Frame(selected, pts, pixels)
                selected += 1
        except av.error.FFmpegError as exc:
            raise av_error(exc, path) from None
    if selected == 0:
        raise SuperresError("no frame of it is in the range asked for (--frames, --start, --duration)", path)


def _guessed_pts(number: int, info: VideoInfo) -> int:
    rate = info.rate or 25
    return round(number / rate / info.time_base)


def to_pixels(frame: av.VideoFrame, info: VideoInfo) -> np.ndarray:
    """H x W x 3 RGB samples of ``frame``: uint8, or uint16 (full 16-bit scale) for a deep input."""
    rgb = frame.reformat(
        format="rgb48le" if info.deep else "rgb24",
        src_color_range=frame.color_range or None,
        dst_color_range=FULL_RANGE,
    )
    return rgb.to_ndarray()


def to_frame(pixels: np.ndarray, pts: int, encoding: Encoding, info: VideoInfo) -> av.VideoFrame:
    """``pixels`` (RGB, uint8 or uint16) as a frame in the encoder's pixel format, converted
    with the input's colour matrix and range and tagged with its primaries and transfer."""
    rgb = av.VideoFrame.from_ndarray(pixels, format="rgb48le" if pixels.dtype == np.uint16 else "rgb24")
    colour = info.colour
    frame = rgb.reformat(
        format=encoding.pix_fmt,
        src_colorspace=colour["colorspace"] or None,
        dst_colorspace=colour["colorspace"] or None,
        src_color_range=FULL_RANGE,
        dst_color_range=colour["color_range"] or None,
        dst_color_trc=colour["color_trc"] or None,
        dst_color_primaries=colour["color_primaries"] or None,
    )
    for name, value in colour.items():
        if value:
            setattr(frame, name, value)
    frame.pts = pts
    frame.time_base = info.time_base
    return frame
