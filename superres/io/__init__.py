"""Image files in and out, keeping what a photographer or a remote-sensing user cares about:
bit depth, grayscale, alpha, EXIF orientation, the ICC profile and EXIF data.

Pixels are held as an H x W x C numpy array: uint8 and uint16 as they are, any other
sample type (float, int16, ...) as found in the file. Pillow reads and writes the common
formats; tifffile handles TIFF (16-bit, float, multi-band, multi-page); imagecodecs handles
16-bit RGB(A) PNG and JPEG 2000, which Pillow cannot represent; 16-bit colour PPM, which
Pillow reduces to 8 bits, is read and written here (a header and big-endian samples).

A multi-page TIFF (a stack of slices, frames, channels or plain pages, ImageJ hyperstacks
included) is one ImageData whose pages follow each other along the band axis; ``stack``
records how to fold them back, so every page is upscaled and written back with its axes.
An animated GIF, WebP or PNG is held the same way: its frames (composited, as shown) are
the pages of a stack with a T axis, and ``animation`` keeps their timing.

The modules: ``image`` (ImageData and its parts), ``formats`` (what each format holds),
``read`` with ``read_pillow``, ``read_tiff`` and ``read_deep`` (decoding), ``write`` and
``write_tiff`` (encoding), ``rows`` (writing a result band by band), ``metadata`` (EXIF,
XMP, ICC, DPI) with ``exif_in_place`` (EXIF values changed without moving a MakerNote),
``limits`` (pixel-count limits), ``geotiff`` and ``ome``; ``dicom`` and ``nifti`` (medical
images: pydicom and nibabel are imported only when such a file is read or written).
"""

from superres.io.formats import FORMATS, IMAGE_SUFFIXES, check_fits_format, check_format_holds
from superres.io.image import ImageData, Resolution, TiffStack, to_pil
from superres.io.limits import DEFAULT_MAX_PIXELS
from superres.io.metadata import exif_with_resolution, exif_with_size, xmp_with_size
from superres.io.read import has_dicom_mark, image_files, is_image_file, read_image
from superres.io.read_pillow import from_pil, jpeg_quality
from superres.io.rows import write_png_rows, write_rows, write_tiff_rows, writes_in_row_bands
from superres.io.write import write_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "IMAGE_SUFFIXES",
    "ImageData",
    "Resolution",
    "TiffStack",
    "check_fits_format",
    "check_format_holds",
    "exif_with_resolution",
    "exif_with_size",
    "from_pil",
    "has_dicom_mark",
    "image_files",
    "is_image_file",
    "jpeg_quality",
    "read_image",
    "to_pil",
    "write_image",
    "write_png_rows",
    "write_rows",
    "write_tiff_rows",
    "writes_in_row_bands",
    "xmp_with_size",
]
