"""`superres upscale` with videos: planned in a batch with images, bad videos one line each."""

from __future__ import annotations

import re
from fractions import Fraction

import av
import pytest
from PIL import Image

from superres.cli import main
from tests.conftest import smooth_image
from tests.video.clips import Clip, decoded, make_clip


def _garbage_h264(path):
    """An MKV whose MPEG-2 stream holds bytes no decoder makes a frame of."""
    with av.open(str(path), "w") as out:
        stream = out.add_mux_stream("mpeg2video", width=32, height=24)
        for index in range(3):
            packet = av.Packet(bytes(range(7, 207)))
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 25)
            out.mux(packet)
    return path


def test_a_batch_of_videos_and_images_goes_past_bad_videos(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "clip.mkv", Clip(frames=4))
    Image.fromarray(smooth_image(12, 14)).save(folder / "photo.png")
    whole = make_clip(tmp_path / "whole.mp4", Clip(frames=4, codec="libx264", pix_fmt="yuv420p"))
    (folder / "truncated.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    make_clip(folder / "sound.mkv", Clip(frames=1, audio=True, subtitles=False))
    with av.open(str(folder / "sound.mkv")) as source, av.open(str(folder / "no_video.mkv"), "w") as out:
        audio = out.add_stream_from_template(source.streams.audio[0])
        for packet in source.demux(source.streams.audio[0]):
            if packet.size:
                packet.stream = audio
                out.mux(packet)
    (folder / "sound.mkv").unlink()
    _garbage_h264(folder / "garbage.mkv")
    out = tmp_path / "out"
    code = main(["upscale", str(folder), "-o", str(out), "-m", "bicubic", "-s", "2", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["clip_x2.mkv", "photo_x2.png"]
    assert (decoded(out / "clip_x2.mkv")[0].width, len(decoded(out / "clip_x2.mkv"))) == (64, 4)
    assert "3 of 5 inputs failed" in err
    lines = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    assert any(line.startswith(f"{folder / 'truncated.mp4'}: cannot read it as a video") for line in lines)
    assert f"{folder / 'no_video.mkv'}: it holds no video stream" in lines
    assert any(line.startswith(f"{folder / 'garbage.mkv'}:") for line in lines)
    assert "Traceback" not in err and len(err.splitlines()) == 7  # 3 errors, the count, 3 lines


def test_a_video_to_an_image_file_and_bad_options_are_one_line(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip.mkv", Clip(frames=2, audio=False, subtitles=False))
    assert main(["upscale", str(clip), "-o", str(tmp_path / "still.png"), "-m", "bicubic", "-q"]) == 1
    assert "a video's output must be a video file" in capsys.readouterr().err
    assert main(["upscale", str(clip), "--ext", "jpg", "-m", "bicubic", "-q"]) == 1
    photo = tmp_path / "photo.png"
    Image.fromarray(smooth_image(8, 8)).save(photo)
    assert main(["upscale", str(photo), "-o", str(tmp_path / "photo.mp4"), "-m", "bicubic", "-q"]) == 1
    assert "an image's output must be an image file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_status:
        main(["upscale", str(clip), "--frames", "5:2", "-m", "bicubic"])
    assert exit_status.value.code == 2 and "--frames '5:2': give A:B" in capsys.readouterr().err
    assert main(["upscale", str(clip), "--codec", "nonsense", "-m", "bicubic", "-q"]) == 1
    assert "--codec nonsense: no such encoder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "photo.png"]


def test_auto_model_codec_crf_and_frames_from_the_command_line(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip.mkv", Clip(frames=5, subtitles=False))
    target = tmp_path / "clip.mp4"
    args = [
        "upscale",
        str(clip),
        "-s",
        "2",
        "--frames",
        "1:3",
        "--codec",
        "h264",
        "--crf",
        "30",
        "-o",
        str(target),
    ]
    assert main([*args, "--pix-fmt", "yuv420p"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"clip.mkv: 2 frames with (rlfn-s-x2|real-photo-x2)\n", err)  # auto's pick, at x2
    frames = decoded(target)
    assert len(frames) == 2 and (frames[0].width, frames[0].height) == (64, 48)
    with av.open(str(target)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert main(["upscale", str(clip), "-s", "2", "-m", "bicubic", "-q"]) == 0  # beside: clip_x2.mkv
    assert len(decoded(tmp_path / "clip_x2.mkv")) == 5


def test_a_ray_worker_refuses_a_video_job_in_one_line(tmp_path):
    from superres.batch import PlannedJob
    from superres.cli.upscale import OutputLimit, upscale_job
    from superres.errors import SuperresError

    clip = make_clip(tmp_path / "clip.mkv", Clip(frames=2))
    job = PlannedJob(clip, tmp_path / "clip_x2.mkv")
    with pytest.raises(SuperresError, match="not run on Ray"):
        upscale_job(None, job, None, OutputLimit(2, 10**6, 10**7))  # refused before a model is chosen
    assert not (tmp_path / "clip_x2.mkv").exists()
