"""--resume: an interrupted run keeps its finished segments, and the result equals an
uninterrupted run's; the work folder is superres's own."""

from __future__ import annotations

import numpy as np
import pytest

import superres.video.run as video_run
from superres.api import upscale_image
from superres.errors import SuperresError
from superres.io import ImageData
from superres.video import VideoOptions, upscale_video
from superres.video.segments import WorkFolder
from tests.video.clips import Clip, frame_times, make_clip, packets, rgb


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def _interrupted_after(monkeypatch, count: int) -> list[int]:
    """Make the frame upscale fail once ``count`` frames are done; the frames it did."""
    done: list[int] = []
    real = video_run.upscale_image

    def upscale(model, image, options):
        if len(done) == count:
            raise KeyboardInterrupt  # as Ctrl-C would, mid-segment
        done.append(1)
        return real(model, image, options)

    monkeypatch.setattr(video_run, "upscale_image", upscale)
    return done


H264 = Clip(frames=10, codec="libx264", pix_fmt="yuv420p")


@pytest.mark.parametrize(("suffix", "clip"), [(".mkv", Clip(frames=10)), (".mp4", H264)])
def test_resume_after_an_interruption_equals_a_whole_run(tmp_path, monkeypatch, bicubic2, suffix, clip):
    source = make_clip(tmp_path / f"in{suffix}", clip)
    whole = upscale_video(bicubic2, source, tmp_path / f"whole{suffix}").path
    video = VideoOptions(resume=True, segment_frames=3)  # the input's codec: ffv1, or H.264 (reordering)
    target = tmp_path / f"out{suffix}"
    _interrupted_after(monkeypatch, 7)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(bicubic2, source, target, video=video)
    folder = WorkFolder.for_output(target)
    assert sorted(p.name for p in folder.path.iterdir()) == ["job.json", "seg-00000.nut", "seg-00001.nut"]
    assert not target.exists()
    kept = folder.segment(0).stat().st_mtime_ns
    monkeypatch.undo()
    done = _interrupted_after(monkeypatch, 100)
    result = upscale_video(bicubic2, source, target, video=video)
    assert (result.resumed_at, result.frames, len(done)) == (6, 4, 4)  # only the unfinished segments
    assert kept  # the first segments were used as they were, then removed with the folder
    assert not folder.path.exists()
    assert frame_times(target) == frame_times(source) == frame_times(whole)
    assert packets(target, "audio") == packets(source, "audio")
    for ours, theirs, before in zip(rgb(target), rgb(whole), rgb(source), strict=True):
        if clip.codec == "ffv1":  # lossless: the same frames as one uninterrupted run
            np.testing.assert_array_equal(ours, theirs)
        else:  # segments start with a key frame and have no B-frames: as close to the image path
            reference = upscale_image(bicubic2, ImageData(before, False)).pixels
            assert _psnr(reference, ours) > _psnr(reference, theirs) - 1.5 > 25  # 4:2:0 of a busy pattern


def test_a_different_job_or_no_resume_starts_over(tmp_path, monkeypatch, bicubic2):
    source = make_clip(tmp_path / "in.mkv", Clip(frames=6, audio=False, subtitles=False))
    target = tmp_path / "out.mkv"
    video = VideoOptions(resume=True, segment_frames=2)
    _interrupted_after(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(bicubic2, source, target, video=video)
    monkeypatch.undo()
    done = _interrupted_after(monkeypatch, 100)
    other = VideoOptions(resume=True, segment_frames=2, crf=3)  # another job: its segments do not fit
    assert upscale_video(bicubic2, source, target, video=other).resumed_at == 0 and len(done) == 6
    with pytest.raises(KeyboardInterrupt):
        _interrupted_after(monkeypatch, 3)
        upscale_video(bicubic2, source, target, video=video)
    monkeypatch.undo()
    assert upscale_video(bicubic2, source, target).resumed_at == 0  # no --resume: from the start


def test_a_work_folder_superres_did_not_make_is_refused(tmp_path, bicubic2):
    source = make_clip(tmp_path / "in.mkv", Clip(frames=2, audio=False, subtitles=False))
    folder = WorkFolder.for_output(tmp_path / "out.mkv").path
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    with pytest.raises(SuperresError, match="superres did not make it"):
        upscale_video(bicubic2, source, tmp_path / "out.mkv", video=VideoOptions(resume=True))
    assert (folder / "notes.txt").read_text() == "the user's"


@pytest.mark.slow
def test_a_killed_command_resumes_where_it_stopped(tmp_path, monkeypatch, bicubic2):
    """A real SIGKILL of `superres upscale --resume` mid-run; the rerun upscales only what the
    killed run had not finished, and gives the frames of an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time

    from superres.cli import main

    source = make_clip(tmp_path / "in.mkv", Clip(frames=160, size=(128, 96)))
    target = tmp_path / "out.mkv"
    args = ["upscale", str(source), "-o", str(target), "-m", "bicubic", "-s", "2", "-q", "--resume"]
    args += ["--segment-frames", "4"]
    process = subprocess.Popen([sys.executable, "-m", "superres", *args], stderr=subprocess.PIPE)
    second = WorkFolder.for_output(target).segment(1)
    deadline = time.time() + 120
    while not second.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not target.exists() and second.exists()
    done = _interrupted_after(monkeypatch, 10**6)
    assert main(args) == 0
    assert 0 < len(done) <= 160 - 8  # at least the two finished segments were kept
    assert not WorkFolder.for_output(target).path.exists()
    whole = upscale_video(bicubic2, source, tmp_path / "whole.mkv").path
    assert frame_times(target) == frame_times(source)
    for ours, theirs in zip(rgb(target), rgb(whole), strict=True):
        np.testing.assert_array_equal(ours, theirs)
