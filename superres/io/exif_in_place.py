"""EXIF values changed where they stand in the original bytes, every other byte kept.

Re-encoding EXIF (Pillow's ``Exif.tobytes``) lays its blocks out anew, and a camera's
MakerNote, an opaque block that many makers fill with offsets counted from the EXIF's own
TIFF header, then points at the wrong bytes. Orientation, resolution and pixel dimensions
are fixed-size values, so they are overwritten in place instead; a change the bytes cannot
take in place (a tag absent, or of a type too small for the value) returns None and the
caller re-encodes.
"""

from __future__ import annotations

import struct
from fractions import Fraction

EXIF_PREFIX = b"Exif\x00\x00"
_SHORT, _LONG, _RATIONAL = 3, 4, 5
_EXIF_IFD = 0x8769
_SIZES = {_SHORT: 2, _LONG: 4, _RATIONAL: 8}


def patched(exif: bytes, ifd0: dict[int, float], camera: dict[int, float] | None = None) -> bytes | None:
    """``exif`` (with or without its ``Exif\\0\\0`` prefix; returned with it) whose first-IFD
    tags ``ifd0`` and Exif-IFD tags ``camera`` hold the given values, or None where one of
    them is absent, or is not a single SHORT, LONG or RATIONAL that can hold its value."""
    data = bytearray(exif if exif.startswith(EXIF_PREFIX) else EXIF_PREFIX + exif)
    base = len(EXIF_PREFIX)
    try:
        endian = {b"II": "<", b"MM": ">"}[bytes(data[base : base + 2])]
        entries = _entries(data, base, endian, _unpack(data, base + 4, endian + "I"))
        wanted = [(entries, ifd0)]
        if camera:
            pointer = entries.get(_EXIF_IFD)
            if pointer is None:
                return None
            offset = _unpack(data, pointer + 8, endian + "I")
            wanted.append((_entries(data, base, endian, offset), camera))
        for found, values in wanted:
            for tag, value in values.items():
                if tag not in found or not _write(data, base, endian, found[tag], value):
                    return None
    except (KeyError, struct.error, IndexError):
        return None
    return bytes(data)


def _unpack(data: bytearray, at: int, fmt: str) -> int:
    return struct.unpack_from(fmt, data, at)[0]


def _entries(data: bytearray, base: int, endian: str, offset: int) -> dict[int, int]:
    """Tag -> position of its 12-byte entry, for the IFD at ``offset`` (from the TIFF header)."""
    start = base + offset
    count = _unpack(data, start, endian + "H")
    return {_unpack(data, start + 2 + 12 * i, endian + "H"): start + 2 + 12 * i for i in range(count)}


def _write(data: bytearray, base: int, endian: str, entry: int, value: float) -> bool:
    """Overwrite the single value of the entry at ``entry``; False if its type cannot hold it."""
    kind, count = struct.unpack_from(endian + "HI", data, entry + 2)
    if count != 1 or kind not in _SIZES:
        return False
    if kind == _RATIONAL:
        ratio = Fraction(value).limit_denominator(10_000)
        if not 0 < ratio.numerator <= 0xFFFFFFFF:
            return False
        at = base + _unpack(data, entry + 8, endian + "I")
        if at + 8 > len(data):
            return False
        struct.pack_into(endian + "II", data, at, ratio.numerator, ratio.denominator)
        return True
    if value != int(value) or not 0 <= value <= (0xFFFF if kind == _SHORT else 0xFFFFFFFF):
        return False
    struct.pack_into(endian + ("H" if kind == _SHORT else "I"), data, entry + 8, int(value))
    return True
