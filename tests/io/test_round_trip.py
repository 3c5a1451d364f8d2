"""read_image and write_image called directly: what is written comes back, sample for sample
where the format is lossless, close where it is not, with its EXIF, ICC profile and DPI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from superres.errors import SuperresError
from superres.io import ImageData, Resolution, read_image, write_image
from tests.conftest import smooth_image
from tests.io.conftest import srgb_icc


def _deep(height: int, width: int, channels: int) -> np.ndarray:
    """16-bit samples that use the low byte too, so a reduction to 8 bits would show."""
    low = np.arange(height * width * channels, dtype=np.uint16).reshape(height, width, channels) % 251
    return smooth_image(height, width, channels).astype(np.uint16) * 256 + low


@pytest.mark.parametrize(
    ("name", "pixels", "has_alpha"),
    [
        ("rgb8.png", smooth_image(12, 16, 3), False),
        ("gray8.png", smooth_image(12, 16, 1), False),
        ("rgba8.png", smooth_image(12, 16, 4), True),
        ("rgb16.png", _deep(12, 16, 3), False),
        ("gray16.png", _deep(12, 16, 1), False),
        ("rgba16.png", _deep(12, 16, 4), True),
        ("rgb16.tif", _deep(12, 16, 3), False),
        ("gray16.tif", _deep(12, 16, 1), False),
        ("rgba8.tif", smooth_image(12, 16, 4), True),
    ],
)
def test_lossless_formats_give_back_every_sample(tmp_path, name, pixels, has_alpha):
    written = write_image(tmp_path / name, ImageData(pixels, has_alpha=has_alpha))
    image = read_image(written)
    assert image.pixels.dtype == pixels.dtype and image.pixels.shape == pixels.shape
    assert np.array_equal(image.pixels, pixels)
    assert image.has_alpha is has_alpha


def test_jpeg_comes_back_close_but_not_exact(tmp_path):
    pixels = smooth_image(64, 80, 3)
    image = read_image(write_image(tmp_path / "photo.jpg", ImageData(pixels)))
    assert image.pixels.shape == (64, 80, 3) and image.pixels.dtype == np.uint8
    difference = np.abs(image.pixels.astype(int) - pixels)
    assert 0 < difference.mean() < 2 and difference.max() <= 12


def test_a_lossless_webp_is_read_exactly_and_a_written_one_comes_back_close(tmp_path):
    pixels = smooth_image(20, 24, 4)
    pixels[..., 3] = 255
    pixels[:4, :4, 3] = 0  # a transparent corner, its colour kept (exact)
    Image.fromarray(pixels).save(tmp_path / "lossless.webp", lossless=True, exact=True)
    image = read_image(tmp_path / "lossless.webp")
    assert image.has_alpha and np.array_equal(image.pixels, pixels)
    smooth = smooth_image(128, 160, 3)
    again = read_image(write_image(tmp_path / "lossy.webp", ImageData(smooth)))
    assert again.pixels.shape == smooth.shape and not again.has_alpha
    assert 0 < np.abs(again.pixels.astype(int) - smooth).mean() < 3


@pytest.mark.parametrize("ext", ["png", "jpg", "tif"])
def test_exif_icc_and_dpi_written_come_back(tmp_path, ext):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    icc = srgb_icc()
    image = ImageData(
        smooth_image(10, 12, 3), icc_profile=icc, exif=exif.tobytes(), resolution=Resolution(300.0, 150.0)
    )
    back = read_image(write_image(tmp_path / f"scan.{ext}", image))
    assert back.icc_profile == icc
    parsed = Image.Exif()
    parsed.load(back.exif)
    assert parsed[0x010F] == "TestCam"
    assert back.dpi == pytest.approx((300.0, 150.0), abs=0.02)  # PNG: whole pixels per metre


def test_16_bit_samples_are_reduced_to_8_bits_where_the_format_holds_8(tmp_path):
    pixels = np.full((6, 8, 3), (0, 32896, 65535), np.uint16)
    with pytest.warns(UserWarning, match="reduced to 8 bits"):
        written = write_image(tmp_path / "small.bmp", ImageData(pixels))
    assert np.array_equal(read_image(written).pixels, np.full((6, 8, 3), (0, 128, 255), np.uint8))


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    written = write_image(tmp_path / "big.png", ImageData(smooth_image(10, 8, 3)))
    with pytest.raises(SuperresError, match="image is 8x10 = 80 pixels, over the limit of 79"):
        read_image(written, max_pixels=79)
    assert read_image(written, max_pixels=80).pixels.shape == (10, 8, 3)
