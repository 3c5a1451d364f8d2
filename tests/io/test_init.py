"""The names ``superres.io`` offers: the ones other modules, tests and benchmarks import."""

from __future__ import annotations

import types

import superres.io

PUBLIC = {
    *("DEFAULT_MAX_PIXELS", "FORMATS", "IMAGE_SUFFIXES", "ImageData", "Resolution", "TiffStack"),
    *("check_fits_format", "check_format_holds", "image_files", "read_image", "jpeg_quality"),
    *("is_image_file", "has_dicom_mark"),
    *("exif_with_resolution", "exif_with_size", "xmp_with_size", "from_pil", "to_pil", "write_image"),
    *("write_rows", "writes_in_row_bands", "write_png_rows", "write_tiff_rows"),
}


def test_public_names_are_the_declared_ones():
    assert set(superres.io.__all__) == PUBLIC
    modules = {name for name, value in vars(superres.io).items() if isinstance(value, types.ModuleType)}
    public = {name for name in vars(superres.io) if not name.startswith("_")} - modules
    assert public == PUBLIC


def test_every_declared_name_is_there():
    missing = [name for name in superres.io.__all__ if not hasattr(superres.io, name)]
    assert missing == []
