"""Upscaled frames encoded into the work folder's segment files (one segment, or one per
``per_segment`` frames with ``--resume``), each renamed into place only once complete."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import av
import numpy as np

from superres.atomic import atomic_output
from superres.video.frames import Frame, to_frame
from superres.video.probe import Encoding, VideoInfo
from superres.video.segments import SEGMENT_OFFSET, WorkFolder


@dataclass(frozen=True)
class SegmentPlan:
    """Where and how the frames are encoded: ``per_segment`` frames a file (None: one file),
    ``size`` (width, height) of the upscaled frames; ``from_zero``: timestamps start at zero
    (the first frame's pts is taken off each)."""

    folder: WorkFolder
    encoding: Encoding
    info: VideoInfo
    size: tuple[int, int]
    per_segment: int | None
    from_zero: bool = False


class SegmentWriter:
    """Consumes (frame, upscaled pixels) in order; frames without pixels belong to finished
    segments and are passed over. :meth:`close` finishes the last segment; :meth:`abort`
    drops the one being written."""

    def __init__(self, plan: SegmentPlan) -> None:
        self.plan = plan
        self.number: int | None = None  # the segment being written
        self._files = contextlib.ExitStack()
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self.first_pts = 0  # of the first selected frame
        self.last_pts = 0  # of the latest frame passed
        self._offset = round(SEGMENT_OFFSET / plan.info.time_base)

    def __call__(self, item: tuple[Frame, np.ndarray | None]) -> None:
        frame, pixels = item
        if frame.index == 0:
            self.first_pts = frame.pts
        self.last_pts = frame.pts
        if pixels is None:
            return
        number = 0 if self.plan.per_segment is None else frame.index // self.plan.per_segment
        if number != self.number:
            self.close()
            self._open(number)
        pts = frame.pts - (self.first_pts if self.plan.from_zero else 0) + self._offset
        encoded = to_frame(pixels, pts, self.plan.encoding, self.plan.info)
        self._container.mux(self._stream.encode(encoded))

    def _open(self, number: int) -> None:
        plan, info = self.plan, self.plan.info
        tmp = self._files.enter_context(atomic_output(plan.folder.segment(number)))
        self._container = av.open(str(tmp), "w", format="nut")
        stream = self._container.add_stream(plan.encoding.encoder, rate=info.rate or 25)
        stream.options = dict(plan.encoding.options)
        stream.width, stream.height = plan.size
        stream.pix_fmt = plan.encoding.pix_fmt
        stream.time_base = info.time_base
        context = stream.codec_context
        context.time_base = info.time_base
        context.thread_count = 0  # the encoder's own choice
        if plan.per_segment is not None:  # no reordering: decode times stay in order across segments
            context.max_b_frames = 0
        for name, value in info.colour.items():
            if value:
                setattr(context, name, value)
        self._stream, self.number = stream, number

    def close(self) -> None:
        """Flush and finish the segment being written (renamed into place)."""
        if self._container is None:
            return
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = None
        self._files.close()

    def abort(self) -> None:
        """Drop the segment being written (its temporary file is removed)."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        with contextlib.suppress(Exception):
            self._files.__exit__(RuntimeError, RuntimeError("aborted"), None)
