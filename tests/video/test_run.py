"""superres.video.upscale_video: what is kept (frames, timestamps, streams, colour, rotation,
depth), and each frame equal to the image path's result."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from superres.api import UpscaleOptions, upscale_image
from superres.errors import SuperresError
from superres.io import ImageData
from superres.video import FrameRange, VideoOptions, upscale_video
from tests.video.clips import Clip, decoded, frame_times, make_clip, packets, rgb

BT709 = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1}


def _psnr(a: np.ndarray, b: np.ndarray, peak: float = 255) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / max(error, 1e-12)))


def test_streams_timestamps_and_frames_kept_vfr(tmp_path, bicubic2):
    source = make_clip(tmp_path / "in.mkv", Clip(frames=9, vfr=True))
    target = upscale_video(bicubic2, source, tmp_path / "out.mkv").path
    assert frame_times(target) == frame_times(source)  # variable frame rate: every timestamp
    assert len(set(np.diff(frame_times(source)))) == 2
    assert packets(target, "audio") == packets(source, "audio")  # copied bit for bit, same times
    assert packets(target, "subtitle") == [(Fraction(1, 25), b"first line"), (Fraction(1, 5), b"second line")]
    import av

    with av.open(str(target)) as container:
        assert container.metadata["title"] == "superres test clip"
        assert container.streams.video[0].codec_context.name == "ffv1"  # the input's codec
    assert not (tmp_path / ".out.mkv.superres-video").exists()  # the work folder is gone
    # Lossless RGB in and out: each frame is exactly the image path's result for that frame.
    for before, after in zip(rgb(source), rgb(target), strict=True):
        assert after.shape == (48, 64, 3)
        np.testing.assert_array_equal(after, upscale_image(bicubic2, ImageData(before, False)).pixels)


def test_h264_mp4_close_to_the_image_path(tmp_path, bicubic2):
    source = make_clip(tmp_path / "in.mp4", Clip(codec="libx264", pix_fmt="yuv444p", size=(48, 32)))
    options = UpscaleOptions(outscale=3)
    target = upscale_video(bicubic2, source, tmp_path / "out.mp4", options).path
    frames = decoded(target)
    assert frames[0].format.name == "yuv444p" and (frames[0].width, frames[0].height) == (144, 96)
    assert frame_times(target) == frame_times(source)
    assert packets(target, "audio") == packets(source, "audio")
    for before, after in zip(rgb(source), rgb(target), strict=True):
        assert _psnr(upscale_image(bicubic2, ImageData(before, False), options).pixels, after) > 34  # crf 18


def test_rotation_colour_and_ten_bits_kept(tmp_path, bicubic2):
    clip = Clip(frames=3, pix_fmt="yuv420p10le", rotation=90, colour=BT709, audio=False, subtitles=False)
    source = make_clip(tmp_path / "in.mkv", clip)
    target = upscale_video(bicubic2, source, tmp_path / "out.mkv").path
    first = decoded(target)[0]
    assert first.format.name == "yuv420p10le"
    assert first.rotation == decoded(source)[0].rotation == 90
    assert (first.width, first.height) == (64, 48)  # pixels are not turned: the matrix says how to show them
    assert {name: int(getattr(first, name)) for name in BT709} == BT709
    samples = rgb(target, deep=True)[0]
    assert samples.dtype == np.uint16 and np.any(samples % 256 != samples[0, 0] % 256)  # not 8-bit data
    for before, after in zip(rgb(source, deep=True), rgb(target, deep=True), strict=True):
        reference = upscale_image(bicubic2, ImageData(before, False)).pixels
        assert _psnr(reference, after, 65535) > 28  # 4:2:0 chroma of a colourful pattern, twice


def test_a_range_of_frames_cuts_every_stream(tmp_path, bicubic2):
    source = make_clip(tmp_path / "in.mkv", Clip(frames=10))
    video = VideoOptions(frames=FrameRange.parse("3:7", None, None))
    target = upscale_video(bicubic2, source, tmp_path / "out.mkv", video=video).path
    assert frame_times(target) == [Fraction(i, 25) for i in range(4)]
    expected = rgb(source)[3:7]
    for before, after in zip(expected, rgb(target), strict=True):
        np.testing.assert_array_equal(after, upscale_image(bicubic2, ImageData(before, False)).pixels)
    kept = [(time - Fraction(3, 25), data) for time, data in packets(source, "audio")]
    assert packets(target, "audio") == [(t, d) for t, d in kept if 0 <= t < Fraction(4, 25)]
    by_time = VideoOptions(frames=FrameRange.parse(None, 0.2, 0.08))
    assert len(decoded(upscale_video(bicubic2, source, tmp_path / "t.mkv", video=by_time).path)) == 2


def test_refusals(tmp_path, bicubic2):
    source = make_clip(tmp_path / "in.mkv", Clip(frames=2, audio=False, subtitles=False))
    with pytest.raises(SuperresError, match="must be a video file"):
        upscale_video(bicubic2, source, tmp_path / "out.png")
    with pytest.raises(SuperresError, match="no such encoder"):
        upscale_video(bicubic2, source, tmp_path / "out.mkv", video=VideoOptions(codec="nonsense"))
    with pytest.raises(SuperresError, match="cannot hold it"):
        upscale_video(bicubic2, source, tmp_path / "out.webm", video=VideoOptions(codec="ffv1"))
    with pytest.raises(SuperresError, match="pix-fmt"):
        upscale_video(bicubic2, source, tmp_path / "out.mkv", video=VideoOptions(pix_fmt="rgb48be"))
    (tmp_path / "mine.mkv").write_bytes(b"a file of the user's")
    with pytest.raises(SuperresError, match="superres did not write it"):
        upscale_video(bicubic2, source, tmp_path / "mine.mkv")
    with pytest.raises(SuperresError, match="over --max-output-pixels"):
        upscale_video(bicubic2, source, tmp_path / "out.mkv", UpscaleOptions(max_output_pixels=100))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "mine.mkv"]


@pytest.mark.parametrize("codec", ["av1", "hevc"])
def test_codecs_whose_decoder_has_another_name_are_written(tmp_path, bicubic2, codec, capfd):
    """PyAV opened the segments' AV1 stream by its decoder's name (libdav1d) as an encoder,
    so --codec av1 failed at the remux; x265 printed its banner and statistics."""
    source = make_clip(tmp_path / "in.mkv", Clip(frames=3, size=(64, 48)))
    target = upscale_video(bicubic2, source, tmp_path / "out.mkv", video=VideoOptions(codec=codec)).path
    assert frame_times(target) == frame_times(source)
    assert packets(target, "audio") == packets(source, "audio")
    reference = [upscale_image(bicubic2, ImageData(f, False)).pixels for f in rgb(source)]
    assert all(_psnr(r, ours) > 30 for r, ours in zip(reference, rgb(target), strict=True))
    assert "x265 [info]" not in capfd.readouterr().err


def test_a_failed_run_without_resume_leaves_no_work_folder(tmp_path, bicubic2, monkeypatch):
    import superres.video.run as video_run

    source = make_clip(tmp_path / "in.mkv", Clip(frames=3, audio=False, subtitles=False))

    def failing_remux(*args, **kwargs):
        raise SuperresError("cannot write it", tmp_path / "out.mkv")

    monkeypatch.setattr(video_run, "remux", failing_remux)
    with pytest.raises(SuperresError, match="cannot write it"):
        upscale_video(bicubic2, source, tmp_path / "out.mkv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]
    with pytest.raises(SuperresError, match="cannot write it"):  # --resume keeps what it made
        upscale_video(bicubic2, source, tmp_path / "out.mkv", video=VideoOptions(resume=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mkv.superres-video", "in.mkv"]
