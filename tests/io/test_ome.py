"""OME-TIFF metadata carried with the image's size and pixel size rescaled."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from superres.engine import rows as engine_rows
from superres.io import read_image, write_image
from tests.conftest import smooth_image
from tests.io.conftest import upscale


def _ome_tiff(path, planes: np.ndarray, axes: str, images: int = 1) -> None:
    """An OME-TIFF with 0.5 um pixels and named channels, edited the way microscope software
    writes them: a TiffData UUID naming this file and a ROI in pixel coordinates."""
    metadata = {"axes": axes, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeXUnit": "µm"}
    tifffile.imwrite(path, planes, ome=True, metadata=metadata | {"Channel": {"Name": ["DAPI", "GFP"]}})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    uuid = f'<UUID FileName="{path.name}">urn:uuid:00000000-0000-0000-0000-000000000001</UUID>'
    xml = xml.replace('PlaneCount="2"/>', f'PlaneCount="2">{uuid}</TiffData>')
    xml = xml.replace("</Pixels>", '</Pixels><ROIRef ID="ROI:0"/>')
    xml = xml.replace(
        "</OME>", '<ROI ID="ROI:0"><Union><Point ID="Shape:0" X="3" Y="4"/></Union></ROI></OME>'
    )
    if images > 1:
        image = xml[xml.index("<Image ") : xml.index("</Image>") + len("</Image>")]
        xml = xml.replace("</Image>", "</Image>" + image.replace("Image:0", "Image:1"), 1)
    tifffile.tiffcomment(path, xml.encode("ascii", "xmlcharrefreplace"))


def test_ome_tiff_keeps_its_metadata_with_the_pixel_size_rescaled(tmp_path):
    """An OME-TIFF (microscopy) came out as a plain TIFF: no pixel size, no channel names."""
    planes = np.stack([np.full((6, 8), 1000, np.uint16), np.full((6, 8), 3000, np.uint16)])
    _ome_tiff(tmp_path / "cells.ome.tif", planes, "CYX")
    upscale(tmp_path / "cells.ome.tif", tmp_path / "out", "--outscale", "3")
    with tifffile.TiffFile(tmp_path / "out/cells_x3.ome.tif") as tif:
        assert tif.is_ome and (tif.series[0].axes, tif.series[0].shape) == ("CYX", (2, 18, 24))
        out, xml = tif.series[0].asarray(), tif.ome_metadata
    assert [int(p.mean()) for p in out] == [1000, 3000]  # channel order kept
    ome = tifffile.xml2dict(xml)["OME"]
    pixels = ome["Image"]["Pixels"]
    assert (pixels["SizeX"], pixels["SizeY"]) == (24, 18)
    assert pixels["PhysicalSizeX"] == pytest.approx(0.5 / 3) and pixels["PhysicalSizeXUnit"] == "µm"
    assert [c["Name"] for c in pixels["Channel"]] == ["DAPI", "GFP"]
    assert "ROI" not in ome and "UUID" not in str(pixels["TiffData"])  # pixel coordinates; the input's name
    assert (
        ome["UUID"]
        != tifffile.xml2dict(tifffile.TiffFile(tmp_path / "cells.ome.tif").ome_metadata)["OME"]["UUID"]
    )


def test_an_ome_tiff_written_in_row_bands_keeps_its_metadata(tmp_path, monkeypatch):
    from superres import api

    image = smooth_image(40, 24, 1)[:, :, 0].astype(np.uint16) * 16
    tifffile.imwrite(tmp_path / "g.ome.tif", image, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 2.0})
    monkeypatch.setattr(engine_rows, "ROW_BAND_BYTES", 1)
    monkeypatch.setattr(api, "upscale_image", None)  # never the whole result
    upscale(tmp_path / "g.ome.tif", tmp_path / "out", "--tile", "16")
    with tifffile.TiffFile(tmp_path / "out/g_x2.ome.tif") as tif:
        assert tif.is_ome and tif.pages[0].is_tiled and tif.series[0].shape == (80, 48)
        assert tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]["PhysicalSizeX"] == 1.0


def test_ome_xml_of_several_images_or_outside_tiff_is_said_to_be_dropped(tmp_path):
    planes = np.zeros((2, 6, 8), np.uint16)
    _ome_tiff(tmp_path / "two.ome.tif", planes, "CYX", images=2)
    with pytest.warns(UserWarning) as caught:
        read_image(tmp_path / "two.ome.tif")
    said = " | ".join(str(w.message) for w in caught)
    assert "holds 2 image series" in said and "its OME-XML describes 2 images; it is not carried over" in said
    _ome_tiff(tmp_path / "one.ome.tif", planes[:1], "CYX")
    image = read_image(tmp_path / "one.ome.tif")
    assert image.ome_xml is not None
    with pytest.warns(UserWarning, match="PNG cannot hold the input's OME-XML metadata"):
        write_image(tmp_path / "one.png", image)
