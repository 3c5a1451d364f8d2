"""Small test videos made with PyAV: a moving pattern, with an audio and a subtitle track."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.conftest import smooth_image

TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True)
class Clip:
    """What :func:`make_clip` writes: ``frames`` frames of ``size`` (width, height) in
    ``codec`` / ``pix_fmt`` at ``rate`` (``vfr``: every other frame shown twice as long),
    a FLAC track and (mkv) an SRT track, ``rotation`` in the display matrix, ``colour``
    tags (FFmpeg's numbers), a title."""

    frames: int = 8
    size: tuple[int, int] = (32, 24)
    codec: str = "ffv1"
    pix_fmt: str = "bgr0"
    rate: int = 25
    vfr: bool = False
    audio: bool = True
    subtitles: bool = True
    rotation: int = 0
    colour: dict[str, int] = field(default_factory=dict)


def pattern(index: int, width: int, height: int, dtype=np.uint8) -> np.ndarray:
    """Frame ``index``: a smooth picture shifted by ``index`` pixels, with a moving bar."""
    picture = np.roll(smooth_image(height, width, seed=1), 2 * index, axis=1)
    picture[:, (3 * index) % width] = 250
    if dtype == np.uint16:
        return picture.astype(np.uint16) * 257 + (np.arange(width, dtype=np.uint16) % 64)[None, :, None] * 4
    return picture


def make_clip(path: Path, clip: Clip = Clip()) -> Path:
    """Write ``clip`` to ``path`` (container from the extension)."""
    out = av.open(str(path), "w")
    width, height = clip.size
    video = out.add_stream(clip.codec, rate=clip.rate)
    video.width, video.height, video.pix_fmt = width, height, clip.pix_fmt
    video.time_base = video.codec_context.time_base = TIME_BASE
    for name, value in clip.colour.items():
        setattr(video.codec_context, name, value)
    if clip.rotation:
        video.set_display_rotation(clip.rotation)
    audio = out.add_stream("flac", rate=8000) if clip.audio else None
    if audio is not None:
        audio.layout = "mono"
    subtitles = out.add_mux_stream("subrip") if clip.subtitles and path.suffix == ".mkv" else None
    out.metadata["title"] = "superres test clip"
    deep = "10" in clip.pix_fmt or "16" in clip.pix_fmt
    pts = 0
    for index in range(clip.frames):
        pixels = pattern(index, width, height, np.uint16 if deep else np.uint8)
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb48le" if deep else "rgb24")
        frame = frame.reformat(format=clip.pix_fmt, **_colour_args(clip.colour))
        frame.pts, frame.time_base = pts, TIME_BASE
        pts += 1000 // clip.rate * (2 if clip.vfr and index % 2 else 1)
        out.mux(video.encode(frame))
    out.mux(video.encode(None))
    if audio is not None:
        for index in range(pts // 125 + 1):  # 1000 samples (125 ms) a frame, past the video's end
            samples = ((np.arange(1000) * (index + 3)) % 2000 - 1000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(samples[None], format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, index * 1000
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    if subtitles is not None:
        for start, text in ((40, "first line"), (200, "second line")):
            packet = av.Packet(text.encode())
            packet.stream, packet.pts, packet.dts, packet.duration = subtitles, start, start, 100
            packet.time_base = TIME_BASE
            out.mux(packet)
    out.close()
    return path


def _colour_args(colour: dict[str, int]) -> dict:
    args = {}
    if "colorspace" in colour:
        args["dst_colorspace"] = colour["colorspace"]
    if "color_range" in colour:
        args["src_color_range"], args["dst_color_range"] = 2, colour["color_range"]
    return args


def decoded(path: Path, fmt: str = "rgb24") -> list[av.VideoFrame]:
    """Every frame of ``path``'s first video stream."""
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def frame_times(path: Path) -> list[Fraction]:
    """Each video frame's time in seconds, exactly."""
    return [frame.pts * frame.time_base for frame in decoded(path)]


def packets(path: Path, kind: str) -> list[tuple[Fraction, bytes]]:
    """(time, bytes) of every packet of ``path``'s first stream of ``kind``."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [(p.pts * p.time_base, bytes(p)) for p in container.demux(stream) if p.size]


def rgb(path: Path, deep: bool = False) -> list[np.ndarray]:
    """Every frame of ``path`` as RGB, converted as superres converts (its own range)."""
    from superres.video.frames import FULL_RANGE

    return [
        f.reformat(
            format="rgb48le" if deep else "rgb24",
            src_color_range=f.color_range or None,
            dst_color_range=FULL_RANGE,
        ).to_ndarray()
        for f in decoded(path)
    ]
