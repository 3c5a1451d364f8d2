"""The output file: the encoded segments' packets as its video stream, and every other
stream of the input (audio, subtitles, data, other video) copied packet for packet, in
time order, with the container's and streams' metadata, dispositions and the rotation.
Written atomically (:mod:`superres.atomic`)."""

from __future__ import annotations

import contextlib
import heapq
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from superres.atomic import atomic_output
from superres.errors import SuperresError
from superres.video.probe import MUXERS, VideoInfo, open_video, video_stream
from superres.video.segments import SEGMENT_OFFSET

# Tags a muxer writes for itself; copying the input's would state the input's encoder or sizes.
_OWN_TAGS = {"encoder", "duration", "number_of_frames", "number_of_bytes", "bps", "_statistics_tags"}
_OWN_TAG_PREFIXES = ("_statistics", "duration-", "bps-", "number_of_")


@dataclass(frozen=True)
class Window:
    """The input time kept, in seconds (``end`` None: to the end), and the shift taken off
    every timestamp (the first kept frame starts a cut at zero)."""

    start: Fraction = Fraction(0)
    end: Fraction | None = None
    shift: Fraction = Fraction(0)


def _tags(metadata: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in metadata.items()
        if key.lower() not in _OWN_TAGS and not key.lower().startswith(_OWN_TAG_PREFIXES)
    }


def _stream_like(output: av.container.OutputContainer, template: av.stream.Stream) -> av.stream.Stream:
    """An output stream for ``template``'s packets as they are. PyAV opens a video template by
    its decoder's name as an encoder, which fails where the decoder has another name (AV1
    decoded by libdav1d): then the decoder's parameters are copied as they are."""
    try:
        return output.add_stream_from_template(template)
    except av.codec.codec.UnknownCodecError:
        return output.add_stream_from_template(template, opaque=True)


def remux(source: Path, segments: list[Path], target: Path, *, info: VideoInfo, window: Window) -> None:
    """Write ``target`` (its muxer from its extension) from ``segments`` and ``source``'s
    other streams, cut to ``window``. A stream the container cannot hold is left out with a
    warning."""
    with open_video(source) as inputs, atomic_output(target) as tmp:
        output = av.open(str(tmp), "w", format=MUXERS[target.suffix.lower()])
        try:
            output.metadata.update(_tags(inputs.metadata))
            picture = video_stream(inputs)
            first = av.open(str(segments[0]))
            try:
                video = _stream_like(output, first.streams.video[0])
            finally:
                first.close()
            _describe(video, picture, info)
            copies = _copied_streams(output, inputs, picture, target)
            packets = heapq.merge(
                _segment_packets(segments, video), _input_packets(inputs, copies, window), key=_when
            )
            for packet in packets:
                output.mux(packet)
        except av.error.FFmpegError as exc:
            raise SuperresError(f"cannot write it: {exc}", target) from None
        finally:
            output.close()


def _describe(stream: av.stream.Stream, source: av.stream.Stream, info: VideoInfo) -> None:
    """The input video stream's time base, colour tags, tags, disposition and rotation
    (NUT segments do not keep colour tags: they are set here)."""
    stream.time_base = info.time_base
    for name, value in info.colour.items():
        if value:
            setattr(stream.codec_context, name, value)
    stream.metadata.update(_tags(source.metadata))
    stream.metadata.pop("rotate", None)  # stated by the display matrix instead
    stream.disposition = source.disposition
    if info.rotation:
        stream.set_display_rotation(info.rotation)


def _copied_streams(
    output: av.container.OutputContainer,
    inputs: av.container.InputContainer,
    picture: av.stream.Stream,
    target: Path,
) -> dict[int, av.stream.Stream]:
    """Output streams for every input stream but the upscaled one, by input index."""
    copies = {}
    for stream in inputs.streams:
        if stream.index == picture.index:
            continue
        name = stream.codec.name if stream.codec else "unknown"
        copy = None
        if stream.type != "attachment" and name in output.supported_codecs:
            with contextlib.suppress(av.error.FFmpegError, ValueError, TypeError, NotImplementedError):
                copy = _stream_like(output, stream)
        if copy is None:
            warnings.warn(
                f"{target}: stream #{stream.index} ({stream.type}, {name}) left out: a {target.suffix}"
                " file cannot hold it",
                stacklevel=2,
            )
            continue
        copy.metadata.update(_tags(stream.metadata))
        copy.disposition = stream.disposition
        copies[stream.index] = copy
    return copies


def _segment_packets(segments: list[Path], stream: av.stream.Stream) -> Iterator[av.Packet]:
    for path in segments:
        container = av.open(str(path))
        try:
            for packet in container.demux(container.streams.video[0]):
                if packet.size:
                    ticks = round(SEGMENT_OFFSET / packet.time_base)
                    packet.pts = None if packet.pts is None else packet.pts - ticks
                    packet.dts = None if packet.dts is None else packet.dts - ticks
                    packet.stream = stream
                    yield packet
        finally:
            container.close()


def _input_packets(
    inputs: av.container.InputContainer, copies: dict[int, av.stream.Stream], window: Window
) -> Iterator[av.Packet]:
    """The packets of the copied streams inside ``window``, their timestamps shifted."""
    if not copies:
        return
    for packet in inputs.demux([inputs.streams[index] for index in copies]):
        if not packet.size:
            continue
        base = packet.time_base
        seconds = packet.pts * base if packet.pts is not None else None
        if seconds is not None and (
            seconds < window.start - 1e-6 or (window.end is not None and seconds >= window.end - 1e-6)
        ):
            continue
        if window.shift:
            ticks = round(window.shift / base)
            packet.pts = None if packet.pts is None else packet.pts - ticks
            packet.dts = None if packet.dts is None else packet.dts - ticks
        packet.stream = copies[packet.stream.index]
        yield packet


def _when(packet: av.Packet) -> float:
    """A packet's decode time in seconds, for interleaving."""
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None else 0.0
