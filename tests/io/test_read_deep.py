"""Samples deeper than Pillow decodes them stay deep: 16-bit PNG and Netpbm."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from superres.errors import SuperresError
from superres.io import ImageData, read_image, write_image
from tests.io.conftest import srgb_icc, upscale


def test_16bit_gray_png_stays_16bit(tmp_path):
    src = tmp_path / "g16.png"
    Image.fromarray(np.full((10, 12), 40_000, np.uint16)).save(src)
    upscale(src, tmp_path)
    out = Image.open(tmp_path / "g16_x2.png")
    assert out.mode == "I;16" and out.size == (24, 20)
    assert (np.array(out) == 40_000).all()


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_rgb_and_rgba_png_stay_16bit_with_icc(tmp_path, channels):
    pixels = np.empty((8, 10, channels), np.uint16)
    pixels[...] = (40_000, 1_001, 65_535, 30_000)[:channels]
    icc = srgb_icc()
    src = tmp_path / "c16.png"
    write_image(src, ImageData(pixels, channels == 4, icc_profile=icc))
    upscale(src, tmp_path)
    out = read_image(tmp_path / "c16_x2.png")
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (16, 20, channels)
    assert (out.pixels == pixels[0, 0]).all()
    assert out.icc_profile == icc and out.has_alpha == (channels == 4)


@pytest.mark.parametrize(("maxval", "channels"), [(65535, 3), (4095, 3), (65535, 1)])
def test_deep_netpbm_stays_16_bit(tmp_path, maxval, channels):
    """Pillow reads a deep P6 as 8-bit RGB; superres keeps its samples (scaled to 16 bits, as
    Pillow scales a deep P5) and writes them back as 16-bit."""
    pixels = np.full((4, 5, channels), (maxval, maxval // 3, 7)[:channels], np.uint16)
    src = tmp_path / ("in.ppm" if channels == 3 else "in.pgm")
    magic = b"P6" if channels == 3 else b"P5"
    src.write_bytes(magic + b"\n# made by hand\n5 4\n%d\n" % maxval + pixels.astype(">u2").tobytes())
    expected = (pixels.astype(np.uint32) * 65535 + maxval // 2) // maxval
    assert (read_image(src).pixels == expected).all()
    upscale(src, tmp_path / "out")
    out = read_image(tmp_path / "out" / f"in_x2{src.suffix}")
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (8, 10, channels)
    assert (out.pixels == expected[0, 0]).all()
    src.write_bytes(src.read_bytes()[:-4])
    with pytest.raises(
        SuperresError, match="in.ppm: truncated or corrupt image" if channels == 3 else "in.pgm"
    ):
        read_image(src)
