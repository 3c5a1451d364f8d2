"""OME-XML (the metadata of OME-TIFF microscopy files) carried from an input to its upscaled
output: the image's size and physical pixel size follow the pixels; channel names,
instrument, acquisition and annotations are copied as they are.

Only a file describing one image is carried, and only what stays true after resampling:
ROIs are in pixel coordinates and are dropped, as are TiffData UUID references (they name
the input file, and an OME reader would look for it). The output's pages are written in the
input's order, so the TiffData plane mapping still holds.
"""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _parsed(xml: str) -> tuple[ET.Element, dict[str, str]]:
    namespaces = dict(ns for _, ns in ET.iterparse(io.StringIO(xml), events=["start-ns"]))
    return ET.fromstring(xml), namespaces


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def image_count(xml: str) -> int:
    """How many images an OME-XML document describes (0 if it is not OME-XML)."""
    try:
        root, _ = _parsed(xml)
    except ET.ParseError:
        return 0
    if _local(root.tag) != "OME":
        return 0
    return sum(1 for child in root if _local(child.tag) == "Image")


def rescaled_ome(xml: str, width: int, height: int, new_width: int, new_height: int) -> str:
    """``xml`` for the same image resampled from width x height to new_width x new_height
    pixels: SizeX / SizeY set, PhysicalSizeX / PhysicalSizeY (the size of one pixel)
    divided by the scale factors, a new document UUID, ROIs and TiffData UUIDs dropped.
    Returned as 7-bit ASCII (other characters as XML references, e.g. µm as &#181;m), which
    TIFF descriptions need."""
    root, namespaces = _parsed(xml)
    factors = {"X": new_width / width, "Y": new_height / height}
    if "UUID" in root.attrib:  # the document's UUID names its file, and this is another file
        root.set("UUID", f"urn:uuid:{uuid.uuid4()}")
    for element in list(root.iter()):
        kind = _local(element.tag)
        if kind == "Pixels":
            element.set("SizeX", str(new_width))
            element.set("SizeY", str(new_height))
            if "BigEndian" in element.attrib:
                element.set("BigEndian", "false")  # tifffile writes little-endian
            for axis, factor in factors.items():
                size = element.get(f"PhysicalSize{axis}")
                if size is not None:
                    element.set(f"PhysicalSize{axis}", repr(float(size) / factor))
        for child in list(element):
            if _local(child.tag) in ("ROI", "ROIRef") or (kind == "TiffData" and _local(child.tag) == "UUID"):
                element.remove(child)
    for prefix, uri in namespaces.items():  # keep the document's own prefixes, not ns0:
        ET.register_namespace(prefix, uri)  # (ElementTree's registry is process-wide; same names)
    return _DECLARATION + ET.tostring(root, encoding="us-ascii", xml_declaration=False).decode("ascii")
