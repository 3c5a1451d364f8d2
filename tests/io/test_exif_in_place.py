"""EXIF values overwritten where they stand, or None where the bytes cannot take them."""

from __future__ import annotations

from PIL import Image

from superres.io.exif_in_place import patched


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # SHORT
    exif[0x011A] = 72.0  # RATIONAL
    return exif.tobytes()


def test_values_change_in_place_and_nothing_else():
    original = _exif()
    changed = patched(original, {0x0112: 1, 0x011A: 144.5})
    assert changed is not None and len(changed) == len(original)
    parsed = Image.Exif()
    parsed.load(changed)
    assert parsed[0x0112] == 1 and float(parsed[0x011A]) == 144.5
    assert patched(original[6:], {}) == original  # the Exif prefix added where it was missing


def test_what_the_bytes_cannot_take_is_none():
    original = _exif()
    assert patched(original, {0x0128: 2}) is None  # an absent tag
    assert patched(original, {0x0112: 70_000}) is None  # past a SHORT
    assert patched(original, {}, {0xA002: 16}) is None  # no Exif IFD
    assert patched(b"Exif\0\0XX", {0x0112: 1}) is None  # not TIFF
    assert patched(original[:12], {0x0112: 1}) is None  # cut short
