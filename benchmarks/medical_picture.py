"""The picture in docs/medical.md: a CT slice (pydicom's CT_small.dcm, in Hounsfield units,
window 40 +- 200 HU) and an MRI slice (nibabel's example4d.nii.gz, slice 12 of the first
volume) upscaled x2, each file read and written by ``superres.upscale`` as
``superres upscale FILE -s 2 -m MODEL`` does; per row the input (nearest), bicubic and
rlfn-s-x2, the centre CROP output pixels of each zoomed ZOOM x. The files are read from the
installed packages (needs the ``medical`` extra), not copied into the repository.

Usage: python benchmarks/medical_picture.py [--out docs/images/medical.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import superres

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("bicubic", "rlfn-s-x2")
CROP, ZOOM, SCALE = 128, 2, 2
CT_WINDOW = (-160.0, 240.0)  # HU shown black .. white


def ct_slice(path: Path) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def mri_slice(path: Path) -> np.ndarray:
    import nibabel

    return np.asarray(nibabel.load(path).dataobj[:, :, 12, 0], dtype=np.float64).T[::-1]


def _gray(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    low, high = window
    return (np.clip((values - low) / (high - low), 0, 1) * 255).round().astype(np.uint8)


def _panel(values: np.ndarray, window: tuple[float, float], enlarge: int) -> Image.Image:
    pixels = np.repeat(np.repeat(values, enlarge, axis=0), enlarge, axis=1)
    top, left = ((side - CROP) // 2 for side in pixels.shape)
    crop = _gray(pixels[top : top + CROP, left : left + CROP], window)
    return Image.fromarray(crop).resize((CROP * ZOOM, CROP * ZOOM), Image.NEAREST)


def main() -> int:
    import nibabel
    import pydicom

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/medical.png")
    args = parser.parse_args()
    sources = (
        ("CT_small.dcm", Path(pydicom.__file__).parent / "data/test_files/CT_small.dcm", ct_slice),
        ("example4d.nii.gz", Path(nibabel.__file__).parent / "tests/data/example4d.nii.gz", mri_slice),
    )
    tile, header = CROP * ZOOM, 18
    labels = ["input (nearest)", *MODELS]
    picture = Image.new("L", (tile * len(labels), (header + tile) * len(sources)), 255)
    draw = ImageDraw.Draw(picture)
    with tempfile.TemporaryDirectory() as scratch:
        for row, (name, source, read_slice) in enumerate(sources):
            local = Path(scratch) / name
            shutil.copyfile(source, local)
            original = read_slice(local)
            window = CT_WINDOW if name.endswith(".dcm") else tuple(np.percentile(original, (1, 99.5)))
            panels = [_panel(original, window, SCALE)]
            for model in MODELS:
                output = superres.upscale(local, model, scale=SCALE, output=Path(scratch) / f"{model}_{name}")
                panels.append(_panel(read_slice(output), window, 1))
            y = row * (header + tile)
            for column, panel in enumerate(panels):
                draw.text((column * tile + 4, y + 3), f"{name}: {labels[column]}", fill=0)
                picture.paste(panel, (column * tile, y + header))
    picture.save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
