"""The public surface: what ``superres`` and ``superres.api`` export, and the options of
``superres.upscale``."""

from __future__ import annotations

import subprocess
import sys
import typing

import numpy as np
import pytest
from PIL import Image

import superres
from tests.conftest import smooth_image

PACKAGE_NAMES = ["SRModel", "SuperresError", "TileOptions", "UpscaleOptions", "load_model", "upscale"]
API_NAMES = [
    "Conveniences",
    "TileOptions",
    "UpscaleOptions",
    "upscale",
    "upscale_file",
    "upscale_float",
    "upscale_image",
]


def test_the_package_exports_these_names_and_dir_shows_them_alone():
    assert sorted(superres.__all__) == PACKAGE_NAMES
    code = "import superres; print(' '.join(n for n in dir(superres) if not n.startswith('_')))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.split() == PACKAGE_NAMES
    for name in PACKAGE_NAMES:
        assert getattr(superres, name) is not None
    with pytest.raises(AttributeError):
        superres.no_such_name  # noqa: B018


def test_the_api_module_exports_the_entry_points_and_options():
    import superres.api
    from superres.engine.options import TileOptions, UpscaleOptions
    from superres.models import SRModel

    assert sorted(superres.api.__all__) == API_NAMES
    assert all(hasattr(superres.api, name) for name in API_NAMES)
    assert superres.UpscaleOptions is UpscaleOptions and superres.TileOptions is TileOptions
    assert superres.SRModel is SRModel


def test_upscale_has_an_overload_per_kind_of_input():
    from superres import api

    if not hasattr(typing, "get_overloads"):  # Python 3.10
        pytest.skip("typing.get_overloads is new in Python 3.11")
    overloads = typing.get_overloads(api.upscale)
    assert [(f.__annotations__["image"], f.__annotations__["return"]) for f in overloads] == [
        ("str | os.PathLike[str]", "Path"),
        ("Image.Image", "Image.Image"),
        ("np.ndarray", "np.ndarray"),
    ]


def test_options_are_frozen_and_check_the_alpha_upsampler():
    from dataclasses import FrozenInstanceError

    options = superres.UpscaleOptions(outscale=2.5)
    with pytest.raises(FrozenInstanceError):
        options.outscale = 3  # type: ignore[misc]
    with pytest.raises(superres.SuperresError, match="alpha_upsampler must be one of network, bicubic"):
        superres.UpscaleOptions(alpha_upsampler="nearest")


def test_keyword_conveniences_replace_fields_of_the_options():
    from superres.api import _with_conveniences

    base = superres.UpscaleOptions(tiling=superres.TileOptions(tile=64), keep_dpi=True)
    options = _with_conveniences(base, {"outscale": 3, "tta": True, "keep_dpi": None, "quality": 80})
    assert options == superres.UpscaleOptions(
        tiling=superres.TileOptions(tile=64, tta=True), outscale=3, keep_dpi=True, quality=80
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'scales'"):
        _with_conveniences(None, {"scales": 2})


def test_upscale_takes_options_or_keywords_alike(tmp_path):
    model = superres.load_model("bicubic", scale=2)
    pixels = smooth_image(10, 12, 3)
    by_keyword = superres.upscale(pixels, model=model, outscale=3)
    by_options = superres.upscale(pixels, model, options=superres.UpscaleOptions(outscale=3))
    assert by_keyword.shape == (30, 36, 3) and np.array_equal(by_keyword, by_options)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    written = superres.upscale(tmp_path / "photo.png", model=model, tile=0)
    assert written == tmp_path / "photo_x2.png" and written.is_file()
    big = superres.upscale(Image.fromarray(pixels), model=model)
    assert isinstance(big, Image.Image) and big.size == (24, 20)


def test_api_refuses_empty_and_complex_arrays():
    """An empty array is refused up front (not deep inside the tiler: "range() arg 3 must not
    be zero"), and a complex one rather than coming back with its imaginary part dropped."""
    with pytest.raises(ValueError, match=r"the image is empty \(shape \(0, 5, 3\)\)"):
        superres.upscale(np.zeros((0, 5, 3), np.uint8), model="bicubic", scale=2)
    with pytest.raises(ValueError, match="complex64 samples cannot be upscaled"):
        superres.upscale(np.zeros((4, 4, 3), np.complex64), model="bicubic", scale=2)


def test_api_returns_the_kind_it_was_given(tmp_path):
    gray = smooth_image(8, 10, 1)[:, :, 0]
    out = superres.upscale(gray, model="bicubic", scale=2)
    assert isinstance(out, np.ndarray) and out.shape == (16, 20) and out.dtype == np.uint8
    deep = smooth_image(8, 10).astype(np.uint16) * 257
    assert superres.upscale(deep, model="bicubic", scale=2).dtype == np.uint16
    pil = Image.fromarray(smooth_image(8, 10))
    result = superres.upscale(pil, model="bicubic", scale=3)
    assert isinstance(result, Image.Image) and result.size == (30, 24) and result.mode == "RGB"
    src = tmp_path / "p.png"
    pil.save(src)
    written = superres.upscale(src, model="bicubic", scale=2)
    assert written == tmp_path / "p_x2.png" and Image.open(written).size == (20, 16)
    model = superres.load_model("bicubic", scale=2)
    assert (model.scale, model.arch) == (2, "bicubic")


def test_outscale_gives_the_requested_size():
    from superres.api import upscale

    image = (np.random.rand(30, 40, 3) * 255).astype(np.uint8)
    out = upscale(image, model="bicubic", scale=4, outscale=2.5)
    assert out.shape == (75, 100, 3) and out.dtype == np.uint8


def test_a_file_superres_did_not_write_is_not_replaced_without_overwrite(tmp_path):
    """The path form refused as the CLI does: the user's own photo_x2.png stays; superres' own
    result is rewritten; ``overwrite=True`` replaces the user's file."""
    model = superres.load_model("bicubic", scale=2)
    Image.fromarray(smooth_image(10, 12, 3)).save(tmp_path / "photo.png")
    users = tmp_path / "photo_x2.png"
    users.write_bytes(b"the user's own file")
    with pytest.raises(superres.SuperresError, match=r"photo_x2\.png exists and superres did not write it"):
        superres.upscale(tmp_path / "photo.png", model=model)
    assert users.read_bytes() == b"the user's own file"
    other = tmp_path / "elsewhere.png"
    other.write_bytes(b"another file")
    with pytest.raises(superres.SuperresError, match="did not write it"):
        superres.upscale(tmp_path / "photo.png", model=model, output=other)
    assert other.read_bytes() == b"another file"
    assert superres.upscale(tmp_path / "photo.png", model=model, overwrite=True) == users
    assert Image.open(users).size == (24, 20)
    assert superres.upscale(tmp_path / "photo.png", model=model) == users  # its own result now


def test_the_api_bounds_the_output_size_too(tmp_path):
    Image.fromarray(smooth_image(100, 100, 3)).save(tmp_path / "photo.png")
    limit = r"200x200 = 40,000 pixels, over --max-output-pixels \(39,999\)"
    with pytest.raises(superres.SuperresError, match=limit):
        superres.upscale(tmp_path / "photo.png", model="bicubic", scale=2, max_output_pixels=39_999)
    assert not (tmp_path / "photo_x2.png").exists()
    assert superres.UpscaleOptions(max_pixels=100).output_pixel_limit == 1600
