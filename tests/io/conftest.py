"""Helpers shared by the image-layer tests: the bicubic upscale through the CLI (it keeps
flat colours exact, so values can be checked) and test files of each kind."""

from __future__ import annotations

import tifffile
from PIL import Image, ImageCms

from superres.cli import main
from tests.conftest import smooth_image


def upscale(src, out_dir, *extra):
    """``superres upscale`` of ``src`` into ``out_dir``, x2 with the bicubic model; ``extra``
    are more command-line arguments."""
    assert main(["upscale", str(src), "-o", str(out_dir), "-m", "bicubic", "-s", "2", "-q", *extra]) == 0


def srgb_icc() -> bytes:
    """An sRGB ICC profile, as a file would embed it."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def write_animation(path, loop=0):
    """Three smooth 32x24 frames with a transparent corner, shown 80, 120 and 200 ms."""
    frames = []
    for seed in range(3):
        pixels = smooth_image(24, 32, channels=4, seed=seed)
        pixels[..., 3] = 255
        pixels[:3, :3, 3] = 0
        frames.append(Image.fromarray(pixels))
    options = ({} if loop is None else {"loop": loop}) | (
        {"lossless": True} if path.suffix == ".webp" else {}
    )
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[80, 120, 200], **options)


def write_geotiff(path, pixels, raster_type, nodata=None, transformation=None):
    """A GeoTIFF with 10 m pixels whose top-left pixel (corner or centre, by raster type)
    lies at easting 500000, northing 4000000."""
    keys = (1, 1, 0, 1, 1025, 0, 1, raster_type)
    tags = [(34735, "H", len(keys), keys, True)]
    if transformation:
        matrix = (10.0, 0, 0, 500000.0, 0, -10.0, 0, 4000000.0, 0, 0, 0, 0, 0, 0, 0, 1)
        tags.append((34264, "d", 16, matrix, True))
    else:
        tiepoint = (0, 0, 0, 500000.0, 4000000.0, 0)
        tags += [(33550, "d", 3, (10.0, 10.0, 0.0), True), (33922, "d", 6, tiepoint, True)]
    if nodata is not None:
        tags.append((42113, "s", 0, nodata, True))
    tifffile.imwrite(path, pixels, extratags=tags)
