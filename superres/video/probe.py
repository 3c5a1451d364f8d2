"""What a video file holds (its first video stream: size, timing, pixel format, colour,
rotation) and how the upscaled frames are encoded (codec, pixel format, encoder options).
Every failure to open or read is a :class:`SuperresError` naming the file."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from superres.errors import SuperresError
from superres.video.options import VideoOptions

# The muxer each output extension picks (its codec list says what it can hold).
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
FALLBACK_ENCODERS = {"webm": "libvpx-vp9"}  # else libx264: when the input's codec cannot be encoded
# A near-transparent constant rate factor per lossy encoder, when --crf is not given.
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libsvtav1": 30, "libvpx-vp9": 24, "libvpx": 10}
COLOUR_FIELDS = ("color_range", "colorspace", "color_primaries", "color_trc")


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file. ``deep``: more than 8 bits a sample, so frames are
    upscaled as 16-bit RGB; ``colour``: range, matrix, primaries and transfer as FFmpeg's
    numbers (0 or 2 where unspecified); ``rotation``: degrees of the display matrix;
    ``frames``: the count the container states (0 where it states none)."""

    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None
    codec: str
    pix_fmt: str
    deep: bool
    colour: dict[str, int]
    rotation: float
    frames: int
    duration: float | None  # seconds, where the container states it


@dataclass(frozen=True)
class Encoding:
    """How the upscaled frames are encoded: an FFmpeg encoder, its pixel format and options."""

    encoder: str
    pix_fmt: str
    options: dict[str, str]
    muxer: str


def av_error(exc: BaseException, path: object) -> SuperresError:
    """One line for an FFmpeg error about ``path``."""
    text = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    return SuperresError(f"cannot read it as a video: {text}", path)


@contextlib.contextmanager
def open_video(path: str | Path) -> Iterator[av.container.InputContainer]:
    """The input container of ``path``, closed on leaving; a file FFmpeg cannot open, or one
    with no video stream (or only a cover picture), is a SuperresError."""
    try:
        container = av.open(str(path), "r")
    except av.error.FFmpegError as exc:
        raise av_error(exc, path) from None
    try:
        if video_stream(container) is None:
            raise SuperresError("it holds no video stream", path)
        yield container
    finally:
        container.close()


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The stream upscaled: the first video stream that is not an attached picture."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def probe(path: str | Path) -> VideoInfo:
    """What ``path``'s video stream holds; its first frame is decoded (for rotation and
    colour, and so a codec FFmpeg cannot decode fails here, before any work)."""
    with open_video(path) as container:
        return _describe(container, path)


def _describe(container: av.container.InputContainer, path: object) -> VideoInfo:
    stream = video_stream(container)
    context = stream.codec_context
    if context is None or not context.codec.is_decoder:
        raise SuperresError(f"its video codec ({stream.codec.name}) cannot be decoded here", path)
    try:
        first = next(container.decode(stream), None)
    except av.error.FFmpegError as exc:
        raise av_error(exc, path) from None
    if first is None:
        raise SuperresError("its video stream holds no frame that decodes", path)
    pix_fmt = first.format.name
    depth = max((c.bits for c in first.format.components), default=8)
    duration = float(stream.duration * stream.time_base) if stream.duration else None
    if duration is None and container.duration:  # MKV states the file's, not the stream's
        duration = container.duration / 1_000_000
    rotation = first.rotation or float(stream.metadata.get("rotate", 0) or 0)
    return VideoInfo(
        width=first.width,
        height=first.height,
        time_base=stream.time_base,
        rate=stream.average_rate or stream.guessed_rate,
        codec=context.codec.name,
        pix_fmt=pix_fmt,
        deep=depth > 8,
        colour={name: int(getattr(first, name)) for name in COLOUR_FIELDS},
        rotation=rotation,
        frames=stream.frames,
        duration=duration,
    )


def choose_encoding(info: VideoInfo, options: VideoOptions, target: Path) -> Encoding:
    """The encoder, pixel format and options for ``target``: ``options``' choices, else the
    input's codec and pixel format where this PyAV encodes them and the container takes them
    (else H.264, or VP9 for WebM); SuperresError for a choice that cannot be made."""
    muxer = MUXERS.get(target.suffix.lower())
    if muxer is None:
        raise SuperresError(f"{target.suffix or 'no extension'} is not a video container superres writes")
    holds = av.open(io.BytesIO(), "w", format=muxer).supported_codecs
    if options.codec is not None:
        codec = _encoder(options.codec)
        if codec is None:
            raise SuperresError(f"--codec {options.codec}: no such encoder in this PyAV build")
        if codec.canonical_name not in holds:
            raise SuperresError(f"--codec {options.codec}: a {target.suffix} file cannot hold it")
    else:
        codec = _encoder(info.codec)
        if codec is None or codec.canonical_name not in holds or not codec.video_formats:
            codec = _encoder(FALLBACK_ENCODERS.get(muxer, "libx264"))
    formats = [f.name for f in codec.video_formats or []]
    pix_fmt = options.pix_fmt or _pixel_format(info, formats)
    if formats and pix_fmt not in formats:
        raise SuperresError(f"--pix-fmt {pix_fmt}: {codec.name} encodes {', '.join(formats)}")
    settings: dict[str, str] = {}
    crf = options.crf if options.crf is not None else DEFAULT_CRF.get(codec.name)
    if crf is not None:
        settings["crf"] = str(crf)
        if codec.name.startswith("libvpx"):
            settings["b"] = "0"  # constant quality, no bitrate cap
    if codec.name == "libx265":  # its banner and statistics on stderr: errors only
        settings["x265-params"] = "log-level=error"
    return Encoding(codec.name, pix_fmt, settings, muxer)


def _encoder(name: str) -> av.Codec | None:
    try:
        codec = av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return None
    return codec if codec.type == "video" else None


def _pixel_format(info: VideoInfo, formats: list[str]) -> str:
    """The input's pixel format if the encoder takes it; else one of the same depth."""
    if not formats or info.pix_fmt in formats:
        return info.pix_fmt
    preferred = ("yuv420p10le", "yuv444p10le", "yuv420p16le") if info.deep else ("yuv420p",)
    return next((f for f in preferred if f in formats), formats[0])


def check_frame_size(encoding: Encoding, width: int, height: int, *, source: object) -> None:
    """SuperresError when the pixel format's chroma subsampling cannot hold width x height
    (4:2:0 needs even sizes)."""
    layout = av.VideoFormat(encoding.pix_fmt)
    step_x, step_y = 64 // layout.chroma_width(64), 64 // layout.chroma_height(64)
    if width % step_x or height % step_y:
        raise SuperresError(
            f"the result would be {width}x{height}, which {encoding.pix_fmt} cannot hold (sizes a"
            f" multiple of {step_x}x{step_y}); use another --outscale or --pix-fmt yuv444p",
            source,
        )
