"""Writing an image in the format its extension names, atomically: Pillow for the common
formats and animations, imagecodecs for 16-bit colour PNG and JPEG 2000, pillow-heif for
deep HEIC, and 16-bit colour PPM by hand (a header and big-endian samples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from superres.atomic import atomic_output
from superres.io.formats import CARRIED_METADATA, adapt_for_format, check_fits_format, output_format
from superres.io.image import ImageData
from superres.io.limits import warn_if_over_read_limit
from superres.io.metadata import png_metadata_chunks, png_texts
from superres.io.write_tiff import warn_if_exif_dropped, write_tiff


def write_image(path: str | Path, image: ImageData, quality: int = 95) -> Path:
    """Encode ``image`` in the format named by the extension, atomically (temp + rename)."""
    path = Path(path)
    fmt = output_format(path)
    check_fits_format(path, *image.pixels.shape[:2])
    image = adapt_for_format(image, fmt, path)
    height, width = image.pixels.shape[:2]
    warn_if_over_read_limit(path, width, height, image.stack.pages if image.stack else 1)
    if fmt == "TIFF":
        warn_if_exif_dropped(path, image)
    with atomic_output(path) as tmp:
        if fmt == "DICOM":
            from superres.io.dicom import write_dicom

            write_dicom(tmp, image)
        elif fmt == "NIFTI":
            from superres.io.nifti import write_nifti

            write_nifti(tmp, image, gzipped=path.name.lower().endswith(".gz"))
        elif fmt == "TIFF":
            write_tiff(tmp, image)
        elif fmt == "JPEG2000":
            tmp.write_bytes(_jpeg2000_bytes(image, path))
        elif image.animation is not None:
            _write_animation(tmp, image, fmt, quality)
        elif fmt == "PNG" and image.pixels.dtype == np.uint16 and image.pixels.shape[2] > 1:
            tmp.write_bytes(_png16_bytes(image))
        elif fmt == "PPM" and image.pixels.dtype == np.uint16 and image.pixels.shape[2] == 3:
            tmp.write_bytes(_ppm16_bytes(image.pixels))
        elif fmt == "HEIF" and image.pixels.dtype == np.uint16:
            _write_deep_heif(tmp, image, quality)
        else:
            _write_pillow(tmp, image, fmt, quality)
    return path


def _jpeg2000_bytes(image: ImageData, path: Path) -> bytes:
    """Lossless JPEG 2000 (reversible wavelet), JP2 file or bare codestream by extension."""
    import imagecodecs

    pixels = image.pixels if image.pixels.shape[2] > 1 else image.pixels[:, :, 0]
    codec = "j2k" if Path(path).suffix.lower() == ".j2k" else "jp2"
    return imagecodecs.jpeg2k_encode(np.ascontiguousarray(pixels), level=0, codecformat=codec)


def _ppm16_bytes(pixels: np.ndarray) -> bytes:
    """16-bit colour Netpbm (P6, maxval 65535, big-endian samples), which Pillow cannot write."""
    height, width = pixels.shape[:2]
    return b"P6\n%d %d\n65535\n" % (width, height) + pixels.astype(">u2").tobytes()


def _png16_bytes(image: ImageData) -> bytes:
    """16-bit gray+alpha / RGB / RGBA PNG, with iCCP and eXIf chunks added after IHDR."""
    import imagecodecs

    encoded = imagecodecs.png_encode(np.ascontiguousarray(image.pixels))
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return encoded[:ihdr_end] + png_metadata_chunks(image) + encoded[ihdr_end:]


def _write_deep_heif(path: Path, image: ImageData, quality: int) -> None:
    """16-bit samples as a 10-bit HEIC (pillow-heif keeps the top bits), metadata as for 8 bits."""
    import pillow_heif

    height, width, channels = image.pixels.shape
    mode = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[channels]
    data = np.ascontiguousarray(image.pixels if channels > 1 else image.pixels[:, :, 0])
    heif = pillow_heif.from_bytes(mode=mode, size=(width, height), data=data.tobytes())
    options = {k: v for k, v in _pillow_options(image, "HEIF", quality).items() if k != "dpi"}
    heif.save(path, format="HEIF", **options)


def _pillow_image(pixels: np.ndarray) -> Image.Image:
    # Pillow picks L / I;16 / LA / RGB / RGBA from the dtype and channel count.
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)


def _write_animation(path: Path, image: ImageData, fmt: str, quality: int) -> None:
    """Every frame, with its duration and the loop count: GIF (256 colours a frame, as GIF
    holds), WebP (lossy at ``quality``) or APNG; ICC and EXIF as for a still image."""
    frames = [_pillow_image(image.page(i).pixels) for i in range(image.stack.pages)]
    loop = image.animation.loop
    options = _pillow_options(image, fmt, quality)
    options |= {"save_all": True, "append_images": frames[1:], "duration": list(image.animation.durations)}
    if loop is not None or fmt != "GIF":  # WebP and APNG store a count: 1 plays once
        options["loop"] = 1 if loop is None else loop
    frames[0].save(path, format=fmt, **options)


def _write_pillow(path: Path, image: ImageData, fmt: str, quality: int) -> None:
    _pillow_image(image.pixels).save(path, format=fmt, **_pillow_options(image, fmt, quality))


def _pillow_options(image: ImageData, fmt: str, quality: int) -> dict:
    """Pillow's save options for ``image`` in ``fmt``: quality and its metadata."""
    options: dict = {}
    if fmt in ("JPEG", "WEBP", "AVIF", "HEIF"):
        options["quality"] = quality
    if fmt in ("JPEG", "AVIF", "HEIF"):  # 4:4:4: chroma subsampling would blur the upscaled detail
        options["subsampling"] = 0 if fmt == "JPEG" else "4:4:4"
    if fmt == "TGA":
        options["compression"] = "tga_rle"  # lossless; read by every tool that reads TGA
    carried = CARRIED_METADATA[fmt]
    if image.icc_profile and "ICC profile" in carried:
        options["icc_profile"] = image.icc_profile
    if image.exif and "EXIF" in carried:
        options["exif"] = image.exif
    if image.dpi and "DPI" in carried:
        options["dpi"] = image.dpi
    if image.xmp and "XMP" in carried and fmt != "PNG":  # PNG: an iTXt chunk (png_texts)
        options["xmp"] = image.xmp
    if fmt == "PNG" and png_texts(image):
        from PIL.PngImagePlugin import PngInfo

        options["pnginfo"] = PngInfo()
        for keyword, text in png_texts(image):
            options["pnginfo"].add_itxt(keyword, text)
    return options
