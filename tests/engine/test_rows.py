"""Around the network: value mapping, stacks, alpha, row bands, outscale and progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superres.archs import build_network
from superres.engine.options import TileOptions, UpscaleOptions
from superres.errors import SuperresError
from superres.models import SRModel, load_model
from tests.conftest import CHAIN_WEIGHTS, smooth_image
from tests.engine import tiny_model

COMPACT_X2 = CHAIN_WEIGHTS / "compact-x2.safetensors"  # fp32 under auto on every CPU


def test_upscale_float_is_upscale_image_before_rounding():
    """Distillation targets and student-teacher fits need the network's float output with the
    same band rules as ``upscale_image`` (a gray image through an RGB network included)."""
    from superres.api import upscale_float, upscale_image
    from superres.io import ImageData

    model = tiny_model(build_network("srvgg", scale=2, num_feat=8, num_conv=1))
    sixteen_bit = smooth_image(12, 10, 3).astype(np.uint16) * 257
    twelve_bit = smooth_image(12, 10, 3).astype(np.uint16) * 16
    for pixels in (smooth_image(12, 10, 3), smooth_image(12, 10, 1), sixteen_bit, twelve_bit):
        result = upscale_float(model, pixels)
        assert result.dtype == np.float32 and result.shape == (24, 20, pixels.shape[2])
        assert result.min() >= 0 and result.max() <= 1
        peak = np.iinfo(pixels.dtype).max
        assert np.array_equal(np.round(result * peak), upscale_image(model, ImageData(pixels)).pixels)
    with pytest.raises(TypeError, match="8- or 16-bit"):
        upscale_float(model, smooth_image(12, 10, 3).astype(np.float32))


def test_12_bit_data_in_16_bit_samples_is_upscaled_as_well_as_at_16_bits():
    """12-bit medical or satellite data in 16-bit samples is mapped by the largest value of
    the bit depth in use, so the unused top bits change nothing (divided by 65535, it would
    reach the network as a dim, flat image: 2.5 dB worse on Set5 with the x4 default)."""
    from superres.api import upscale_image
    from superres.engine.values import value_range
    from superres.io import ImageData

    model = load_model(COMPACT_X2)
    twelve_bit = (smooth_image(24, 20, 3).astype(np.uint32) * 4095 // 255).astype(np.uint16)
    assert value_range(twelve_bit) == (0.0, 4095.0)
    assert value_range(twelve_bit * 16) == (0.0, 65535.0)
    assert value_range(np.zeros((2, 2, 1), np.uint16)) == (0.0, 255.0)
    out12 = upscale_image(model, ImageData(twelve_bit)).pixels.astype(np.int64)
    out16 = upscale_image(model, ImageData(twelve_bit * 16)).pixels.astype(np.int64)
    assert out12.max() <= 4095 and np.abs(out16 - out12 * 16).max() <= 16


def test_a_stack_shares_one_value_mapping():
    """The pages of a float stack share one min..max, so neighbouring slices are treated alike
    (a page's own range would stretch a dim slice for the network and a bright one not)."""
    from superres.api import upscale_image
    from superres.io import ImageData, TiffStack

    model = load_model(COMPACT_X2)
    bright = smooth_image(16, 16, 1).astype(np.float32)
    planes = np.concatenate([bright / 4, bright], axis=2)
    out = upscale_image(model, ImageData(planes, stack=TiffStack("Z", (2,)))).pixels
    two_bands = upscale_image(model, ImageData(planes)).pixels  # band by band, one mapping
    assert np.array_equal(out, two_bands)


def test_alpha_has_its_own_value_mapping():
    """12-bit colour with a full 16-bit alpha is mapped by its own bit depth, not by the
    alpha's 65535 (which would make the colour dim and flat for the network)."""
    from superres.api import upscale_image
    from superres.io import ImageData

    model = load_model(COMPACT_X2)
    colour = (smooth_image(16, 16, 3).astype(np.uint32) * 4095 // 255).astype(np.uint16)
    rgba = np.concatenate([colour, np.full((16, 16, 1), 65535, np.uint16)], axis=2)
    out = upscale_image(model, ImageData(rgba, has_alpha=True)).pixels
    assert (out[:, :, 3] > 0.99 * 65535).all()  # a flat alpha stays (nearly) opaque
    assert np.array_equal(out[:, :, :3], upscale_image(model, ImageData(colour)).pixels)


def test_a_large_tiled_result_is_made_in_row_bands_equal_to_one_piece(monkeypatch):
    """Past ROW_BAND_BYTES of float32 output (4 bytes a sample), a tiled run goes in bands of
    rows with context above and below, straight into the result, which stays what one piece
    gives (up to the blend's float rounding)."""
    from superres import api
    from superres.engine import rows
    from superres.io import ImageData

    model = load_model(COMPACT_X2)
    image = ImageData(smooth_image(100, 60, 3))
    options = UpscaleOptions(tiling=TileOptions(tile=32, tile_overlap=8))
    whole = api.upscale_image(model, image, options).pixels
    monkeypatch.setattr(rows, "ROW_BAND_BYTES", 4 * 3 * 60 * 4 * 20)  # bands of 20 rows: 5 bands
    calls = []
    run_bands = rows.run_bands
    monkeypatch.setattr(rows, "run_bands", lambda *args: calls.append(args[1].shape) or run_bands(*args))
    banded = api.upscale_image(model, image, options).pixels
    assert len(calls) == 5 and max(shape[1] for shape in calls) == 20 + 2 * 8
    assert np.abs(banded.astype(int) - whole.astype(int)).max() <= 1


@pytest.mark.parametrize("outscale", [3.3, 1.0])
def test_outscale_goes_in_row_bands_too(monkeypatch, outscale):
    """--outscale resizes each row band from the network rows it reads, equal to resizing the
    whole output (up to rounding), so the model-scale float32 output is never held whole."""
    import torch

    from superres import api
    from superres.engine import rows
    from superres.io import ImageData
    from superres.resize import imresize

    model = load_model(COMPACT_X2)
    pixels = smooth_image(100, 60, 3)
    options = TileOptions(tile=32, tile_overlap=8)
    size = (round(100 * outscale), round(60 * outscale))
    whole = imresize(torch.from_numpy(api.upscale_float(model, pixels, options)).permute(2, 0, 1), size=size)
    expected = np.clip(np.round(whole.permute(1, 2, 0).numpy() * 255), 0, 255)
    monkeypatch.setattr(rows, "ROW_BAND_BYTES", 4 * 3 * 60 * 4 * 20)  # bands of 20 input rows
    calls = []
    run_bands = rows.run_bands
    monkeypatch.setattr(rows, "run_bands", lambda *args: calls.append(args[1].shape) or run_bands(*args))
    banded = api.upscale_image(model, ImageData(pixels), UpscaleOptions(options, outscale=outscale)).pixels
    # 20 rows, 8 of context each side, and the rows the resize kernel reaches beyond them
    assert len(calls) >= 5 and max(shape[1] for shape in calls) <= 40
    assert banded.shape == expected.shape and np.abs(banded - expected).max() <= 1


@pytest.mark.parametrize(
    ("bands", "has_alpha", "pages", "outscale"),
    [(3, True, 1, None), (5, False, 1, 2.5), (1, False, 3, None), (1, False, 8, None)],
)
def test_progress_counts_every_tile_of_the_job_once_against_one_total(
    monkeypatch, bands, has_alpha, pages, outscale
):
    """The tile bar counts the whole job against one total: every row band, alpha, band of a
    multi-band image and page, each tile once."""
    from superres import api
    from superres.engine import rows
    from superres.io import ImageData, TiffStack

    monkeypatch.setattr(rows, "ROW_BAND_BYTES", 4 * 3 * 40 * 4 * 20)  # bands of about 20 input rows
    pixels = np.concatenate([smooth_image(70, 40, bands, seed=p) for p in range(pages)], axis=2)
    stack = TiffStack("Z", (pages,), False) if pages > 1 else None
    image = ImageData(pixels, has_alpha=has_alpha, stack=stack)
    model, reports, tiles = load_model(COMPACT_X2), [], []
    real_forward = SRModel.__call__
    # A call runs a batch of tiles on CPU (engine.tiles.tile_batch): count them, not the calls.
    monkeypatch.setattr(SRModel, "__call__", lambda self, x: tiles.append(len(x)) or real_forward(self, x))
    options = TileOptions(tile=24, tile_overlap=4)
    report = lambda done, total: reports.append((done, total))  # noqa: E731
    api.upscale_image(model, image, UpscaleOptions(options, outscale=outscale), on_tile=report)
    total = reports[0][1]
    assert total == sum(tiles) > 1 and reports == [(done, total) for done in range(1, total + 1)]


def test_bicubic_alpha_upsampler_resizes_alpha_and_leaves_colour_to_the_network(monkeypatch):
    """Real-ESRGAN's --alpha_upsampler bicubic: alpha never reaches the network; it is the
    MATLAB-style bicubic of the alpha plane, in row bands as in one piece, and the progress
    total counts the colour tiles only."""
    from superres import api
    from superres.engine import rows
    from superres.io import ImageData
    from superres.resize import imresize

    model = load_model(COMPACT_X2)
    rgba = np.concatenate([smooth_image(60, 40, 3), smooth_image(60, 40, 1, seed=5)], axis=2)
    image, tiling = ImageData(rgba, has_alpha=True), TileOptions(tile=24, tile_overlap=8)
    network = api.upscale_image(model, image, UpscaleOptions(tiling)).pixels
    alpha = imresize(torch.from_numpy(rgba[:, :, 3:].transpose(2, 0, 1) / 255.0).float(), scale=2)
    expected_alpha = np.clip(np.round(alpha[0].numpy() * 255), 0, 255)
    runs, reports = [], []
    run_bands = rows.run_bands
    monkeypatch.setattr(rows, "run_bands", lambda *args: runs.append(args[1].shape[0]) or run_bands(*args))
    bicubic_alpha = UpscaleOptions(tiling, alpha_upsampler="bicubic")
    for band_bytes, bands in ((rows.ROW_BAND_BYTES, 1), (4 * 3 * 40 * 4 * 20, 4)):  # one piece, then 15 rows
        monkeypatch.setattr(rows, "ROW_BAND_BYTES", band_bytes)
        runs.clear(), reports.clear()
        report = lambda done, total: reports.append((done, total))  # noqa: E731
        out = api.upscale_image(model, image, bicubic_alpha, on_tile=report).pixels
        assert runs == [3] * bands  # the colour bands alone went through the network, once per row band
        assert np.abs(out[:, :, 3].astype(int) - expected_alpha).max() <= 1
        assert np.abs(out[:, :, :3].astype(int) - network[:, :, :3]).max() <= 1
        assert reports[-1][0] == reports[-1][1] == len(reports)
    with pytest.raises(SuperresError, match="alpha_upsampler must be one of network, bicubic"):
        api.upscale_image(model, image, UpscaleOptions(tiling, alpha_upsampler="nearest"))
