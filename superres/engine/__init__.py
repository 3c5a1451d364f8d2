"""The inference engine: what runs a network over an image, around the entry points of
:mod:`superres.api`.

- :mod:`~superres.engine.options`: ``TileOptions`` and ``UpscaleOptions`` (no torch import);
- :mod:`~superres.engine.tiles`: tiled network runs over a tensor, seamless at tile edges;
- :mod:`~superres.engine.values`: the value mapping of samples to [0, 1], no-data, pages;
- :mod:`~superres.engine.channels`: band counts the network was not made for;
- :mod:`~superres.engine.rows`: a page upscaled in bands of rows, and a stack page by page;
- :mod:`~superres.engine.progress`: one tile count over a whole job;
- :mod:`~superres.engine.metadata`: resolution, EXIF, XMP and OME-XML of the result;
- :mod:`~superres.engine.input_kind`: what an input carries (JPEG quality, a noise estimate);
- :mod:`~superres.engine.auto`: ``auto``, the model picked per input from that.

Rules, applied by :func:`superres.api.upscale_image`:

- samples are mapped to [0, 1]: uint8 / 255; uint16 / the largest value of its bit depth in
  use, at least 8 bits (12-bit medical or satellite data in 16-bit samples / 4095, as the
  network would see it at 8 bits: / 65535 makes it a dim, flat image and costs 2.5 dB on
  Set5, benchmarks/bit_depth.py); any other type (float, int16, ...) linearly from the
  image's own min..max; and mapped back to the same type after;
- alpha is upscaled separately by the same network (as a gray image, with its own value
  mapping) and re-attached;
- a gray image through an RGB network is replicated to RGB and averaged back to gray;
  an RGB image through a 1-channel (Y) network has Y upscaled by the network and
  Cb/Cr by bicubic, as SRCNN did; other band counts go band by band as gray images;
- no-data pixels (NaN, or GDAL's no-data value of a GeoTIFF) are left out of the value
  range, filled with their band's mean for the network, and are no-data again in the
  result (nearest-neighbour), so they neither squash the range nor leak into the output;
- each page of a multi-page TIFF (``ImageData.stack``) is upscaled on its own by these
  rules, with one value mapping for the whole stack (slices stay comparable);
- ``outscale`` resizes the network's output to round(size * outscale) with the
  MATLAB-style bicubic (antialiased when shrinking);
- a tiled run whose float32 output would pass ``rows.ROW_BAND_BYTES`` goes in bands of rows
  (:func:`~superres.engine.rows.page_row_bands`), the resize included, and
  :func:`superres.api.upscale_file` writes a TIFF or PNG result band by band as it is made.

Importing this package imports nothing; its modules (all but ``options``) import torch.
"""
