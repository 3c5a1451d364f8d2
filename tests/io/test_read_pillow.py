"""Images Pillow decodes: every mode, palettes, alpha, CMYK, TGA, Netpbm, several images,
animations, and a JPEG's quality."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from superres.io import read_image, write_image
from tests.conftest import smooth_image
from tests.io.conftest import upscale, write_animation


@pytest.mark.parametrize(
    ("mode", "expected_mode"),
    [("RGB", "RGB"), ("RGBA", "RGBA"), ("L", "L"), ("LA", "LA"), ("P", "RGB"), ("1", "L")],
)
def test_8bit_png_modes(tmp_path, mode, expected_mode):
    base = Image.fromarray(smooth_image(16, 20, 4))  # RGBA
    if mode in ("P", "1"):
        base = base.convert("RGB")  # an opaque palette image
    src = tmp_path / "in.png"
    base.convert(mode).save(src)
    upscale(src, tmp_path / "out")
    out = Image.open(tmp_path / "out/in_x2.png")
    assert out.mode == expected_mode and out.size == (40, 32)


def test_palette_with_transparency_becomes_rgba(tmp_path):
    im = Image.new("P", (10, 8), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (5, 0, 10, 8))
    src = tmp_path / "pal.png"
    im.save(src, transparency=0)
    upscale(src, tmp_path)
    out = np.array(Image.open(tmp_path / "pal_x2.png"))
    assert out.shape == (16, 20, 4)
    assert out[:, :6, 3].max() == 0 and out[:, 14:, 3].min() == 255  # transparent left, opaque right


def test_alpha_is_upscaled_separately_and_reattached(tmp_path):
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:, 6:, 3] = 255
    src = tmp_path / "a.png"
    Image.fromarray(rgba).save(src)
    upscale(src, tmp_path)
    out = np.array(Image.open(tmp_path / "a_x2.png"))
    assert (out[..., :3] == (200, 100, 50)).all()  # colour unaffected by alpha
    assert out[:, :10, 3].max() == 0 and out[:, 14:, 3].min() == 255


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    src = tmp_path / "cmyk.jpg"
    Image.fromarray(smooth_image(10, 10)).convert("CMYK").save(src)
    upscale(src, tmp_path)
    out = Image.open(tmp_path / "cmyk_x2.jpg")
    assert out.mode == "RGB" and out.size == (20, 20)


@pytest.mark.parametrize(
    ("mode", "ext"), [("RGBA", "tga"), ("LA", "tga"), ("RGB", "tga"), ("L", "pgm"), ("RGB", "ppm")]
)
def test_tga_and_netpbm_round_trip(tmp_path, mode, ext):
    pixels = Image.fromarray(smooth_image(9, 13)).convert(mode)
    src = tmp_path / f"in.{ext}"
    pixels.save(src)
    upscale(src, tmp_path / "out")
    result = tmp_path / "out" / f"in_x2.{ext}"
    with Image.open(result) as out:
        assert out.format == ("TGA" if ext == "tga" else "PPM") and out.mode == mode and out.size == (26, 18)
    assert read_image(result).pixels.shape[2] == len(mode)


def test_a_jpeg_holding_two_images_gives_its_first_with_a_warning(tmp_path):
    """An MPO (a camera's stereo or depth pair in a .jpg) is not an animation."""
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "pair.jpg", format="MPO", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match=r"pair\.jpg: holds 2 images; only the first is upscaled"):
        image = read_image(tmp_path / "pair.jpg")
    assert image.animation is None and np.abs(image.pixels.astype(int) - 10).max() <= 2


def _frames(path):
    with Image.open(path) as im:
        found = []
        for index in range(im.n_frames):
            im.seek(index)
            im.load()
            found.append((np.asarray(im.convert("RGBA")), im.info.get("duration")))
        return found, im.info.get("loop"), im.size


@pytest.mark.parametrize("ext", ["gif", "webp", "png"])
def test_animations_keep_every_frame_their_timing_and_loop(tmp_path, ext):
    """Each frame of an animated GIF, WebP and PNG is upscaled and written back with its
    duration, as close to that frame upscaled alone as a still image of the format comes
    (GIF's palette and lossy WebP lose some colour; APNG none)."""
    from superres.api import upscale_image
    from superres.models import load_model

    write_animation(tmp_path / f"anim.{ext}")
    image = read_image(tmp_path / f"anim.{ext}")
    assert image.stack.pages == 3 and image.has_alpha and image.animation.durations == (80, 120, 200)
    upscale(tmp_path / f"anim.{ext}", tmp_path / "out")
    found, loop, size = _frames(tmp_path / f"out/anim_x2.{ext}")
    assert size == (64, 48) and loop == 0 and [round(d) for _, d in found] == [80, 120, 200]
    model = load_model("bicubic", scale=2)
    for index, (pixels, _) in enumerate(found):
        alone = upscale_image(model, image.page(index))
        write_image(tmp_path / f"still.{ext}", alone)
        still = np.asarray(Image.open(tmp_path / f"still.{ext}").convert("RGBA"))
        opaque = alone.pixels[..., 3] == 255

        def error(frame, opaque=opaque, alone=alone):
            return np.abs(frame.astype(int) - alone.pixels)[..., :3][opaque].mean()

        assert error(pixels) <= error(still) + 0.5, (error(pixels), error(still))
        assert error(pixels) == 0 or ext != "png"
        assert ((pixels[..., 3] == 0) == (alone.pixels[..., 3] < 128)).mean() > 0.97  # the transparent corner


def test_a_gif_that_plays_once_still_plays_once(tmp_path):
    write_animation(tmp_path / "once.gif", loop=None)
    assert read_image(tmp_path / "once.gif").animation.loop is None
    upscale(tmp_path / "once.gif", tmp_path / "out")
    assert _frames(tmp_path / "out/once_x2.gif")[1] is None  # no NETSCAPE loop extension
    upscale(tmp_path / "once.gif", tmp_path / "out", "--ext", "webp")
    assert _frames(tmp_path / "out/once_x2.webp")[1] == 1  # WebP's count for once


def test_jpeg_quality_is_read_from_the_quantisation_table(tmp_path):
    """The quality a JPEG was saved at, from its header; None for other files and for
    files that are not images."""
    from superres.io import jpeg_quality

    pixels = smooth_image(32, 48)
    for quality in (20, 60, 75, 95, 100):
        Image.fromarray(pixels).save(tmp_path / f"q{quality}.jpg", quality=quality)
        assert jpeg_quality(tmp_path / f"q{quality}.jpg") == quality
    Image.fromarray(pixels[:, :, 0]).save(tmp_path / "gray.jpg", quality=70)
    assert jpeg_quality(tmp_path / "gray.jpg") == 70
    Image.fromarray(pixels).save(tmp_path / "a.png")
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg")
    assert jpeg_quality(tmp_path / "a.png") is None and jpeg_quality(tmp_path / "junk.jpg") is None


def _exif_with_orientation(kind: int, count: int, payload: bytes) -> bytes:
    """EXIF bytes of one IFD entry: the orientation tag as TIFF type ``kind`` (little-endian)."""
    import struct

    inline = len(payload) <= 4
    value = payload.ljust(4, b"\0") if inline else struct.pack("<I", 26)  # 26: just past the IFD
    ifd = struct.pack("<IHHHI", 8, 1, 0x0112, kind, count) + value + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + ifd + (b"" if inline else payload)


@pytest.mark.parametrize(
    "exif",
    [
        _exif_with_orientation(5, 1, b"\x06\0\0\0\0\0\0\0"),  # the rational 6/0
        _exif_with_orientation(2, 4, b"six\0"),  # a string
        _exif_with_orientation(3, 1, b"\x63\0"),  # 99
    ],
    ids=["rational", "string", "out-of-range"],
)
def test_a_bad_exif_orientation_is_ignored_with_a_warning(tmp_path, exif):
    """A photo whose EXIF orientation is not an integer 1-8 is upscaled unturned, and said so,
    not refused as corrupt."""
    pixels = smooth_image(6, 8)
    Image.fromarray(pixels).save(tmp_path / "odd.png", exif=exif)
    said = r"odd\.png: its orientation tag \(.*\) is not one of 1-8; it is ignored"
    with pytest.warns(UserWarning, match=said):
        image = read_image(tmp_path / "odd.png")
    assert (image.pixels == pixels).all()
    out = tmp_path / "out.png"
    write_image(out, image)
    with Image.open(out) as im:
        assert im.getexif().get(0x0112) == 1
