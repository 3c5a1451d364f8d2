"""Frame ranges, suffixes, and the import cost of the video package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from superres.errors import SuperresError
from superres.video.options import FrameRange, is_video


def test_frame_range_parsing_and_position():
    assert FrameRange.parse("3:7", None, None) == FrameRange(3, 7)
    assert FrameRange.parse(":4", None, None) == FrameRange(0, 4)
    assert FrameRange.parse("5:", 1.5, None) == FrameRange(5, None, 1.5)
    assert FrameRange.parse(None, None, None).whole
    for bad in ("7:3", "x:2", "3", "-1:4", "2:2"):
        with pytest.raises(SuperresError, match="--frames"):
            FrameRange.parse(bad, None, None)
    with pytest.raises(SuperresError, match="--duration"):
        FrameRange.parse(None, None, 0)
    window = FrameRange(2, 6, 0.1, 0.5)
    assert [window.position(i, i / 10) for i in (0, 2, 3, 5, 6)] == [-1, 0, 0, 0, 1]
    assert window.position(4, 0.6) == 1 and window.position(4, 0.05) == -1


def test_video_suffixes():
    assert is_video("a/clip.MP4") and is_video("x.mkv") and is_video("y.webm")
    assert not is_video("photo.png") and not is_video("anim.gif") and not is_video("clip")


def test_import_superres_and_reading_a_png_do_not_import_av(tmp_path):
    code = (
        "import sys, numpy as np, superres, superres.batch, superres.cli.upscale, superres.video;"
        "from superres.io import ImageData, write_image, read_image;"
        f"p = write_image({str(tmp_path / 'a.png')!r}, ImageData(np.zeros((4, 4, 3), np.uint8)));"
        "read_image(p);"
        "print(' '.join(m for m in ('av', 'ray', 'dask') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
