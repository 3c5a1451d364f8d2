"""What a video upscale is asked to do (codec, quality, which frames, resume), as plain data.
Importing this module imports neither av nor torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from superres.errors import SuperresError

# Containers superres reads and writes video in (PyAV's muxers, picked by the extension).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi"})
SEGMENT_FRAMES = 96  # frames per resumable segment (--resume): the most a killed run redoes


def is_video(path: str | Path) -> bool:
    """Whether ``path``'s extension names a video container superres reads and writes."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class FrameRange:
    """The frames to upscale: by index (``first`` to ``stop``, exclusive; None: to the end)
    and/or by time (``start`` seconds from the first frame, for ``duration`` seconds)."""

    first: int = 0
    stop: int | None = None
    start: float = 0.0
    duration: float | None = None

    @property
    def whole(self) -> bool:
        return self == FrameRange()

    @classmethod
    def parse(cls, frames: str | None, start: float | None, duration: float | None) -> FrameRange:
        """From ``--frames A:B`` (either side may be left out) and ``--start`` / ``--duration``;
        SuperresError for a malformed or empty range."""
        first, stop = 0, None
        if frames is not None:
            left, sep, right = frames.partition(":")
            try:
                first = int(left) if left.strip() else 0
                stop = int(right) if right.strip() else None
            except ValueError:
                sep = ""
            if not sep or first < 0 or (stop is not None and stop <= first):
                raise SuperresError(f"--frames {frames!r}: give A:B with 0 <= A < B (either may be left out)")
        if (start is not None and start < 0) or (duration is not None and duration <= 0):
            raise SuperresError("--start must be 0 or more and --duration more than 0 (seconds)")
        return cls(first, stop, start or 0.0, duration)

    def position(self, index: int, seconds: float) -> int:
        """-1 before the range, 0 in it, 1 past it, for frame ``index`` shown at ``seconds``
        after the first frame."""
        end = None if self.duration is None else self.start + self.duration
        if index < self.first or seconds < self.start - 1e-9:
            return -1
        if (self.stop is not None and index >= self.stop) or (end is not None and seconds >= end - 1e-9):
            return 1
        return 0


@dataclass(frozen=True)
class VideoOptions:
    """How a video's frames are encoded and which are upscaled.

    ``codec``: an FFmpeg encoder or codec name (None: the input's codec where this PyAV has an
    encoder for it and the container takes it, else H.264); ``crf``: the encoder's constant
    rate factor (None: a near-transparent default per codec; lossless codecs take none);
    ``pix_fmt``: the encoded pixel format (None: the input's where the encoder takes it);
    ``frames``: the frames upscaled (the rest are left out, and the other streams cut to
    match); ``resume``: keep the segments a killed run finished; ``segment_frames``: frames
    per segment with ``resume``; ``queue``: frames waiting between two stages at most."""

    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None
    frames: FrameRange = field(default_factory=FrameRange)
    resume: bool = False
    segment_frames: int = SEGMENT_FRAMES
    queue: int = 3
