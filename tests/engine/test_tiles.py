"""Tiled inference and TTA: seamless tiles, tile sizes, one model from several threads."""

from __future__ import annotations

import itertools
import threading

import pytest
import torch

from superres.archs import build_network
from superres.engine.options import TileOptions
from superres.engine.tiles import CPU_TILE_CAP, axis_windows, choose_tile_size, upscale_tensor
from superres.io import read_image
from superres.models import load_model
from tests.engine import tiny_model


def _photo_crop(shared, height=96, width=120):
    pixels = read_image(shared / "data/test/Set14/baboon.png").pixels[:height, :width]
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy()).float()[None] / 255


@pytest.mark.parametrize(
    ("length", "tile", "overlap"),
    [(100, 40, 8), (64, 64, 8), (65, 32, 16), (7, 32, 4), (320, 128, 16), (999, 97, 31)],
)
def test_windows_cover_the_whole_axis_with_at_least_the_overlap(length, tile, overlap):
    size, starts = axis_windows(length, tile, overlap)
    assert size <= tile and starts[0] == 0 and starts[-1] + size == length
    for a, b in itertools.pairwise(starts):
        assert b - a > 0 and a + size - b >= overlap
    # the fewest windows that can do it: one window less could not reach the end
    assert len(starts) == 1 or (len(starts) - 2) * (tile - overlap) + tile < length


def test_tiled_equals_untiled_with_enough_overlap_real_network(shared):
    model = load_model(shared / "weights/realesrgan/realesr-animevideov3.pth")
    x = _photo_crop(shared)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=64, tile_overlap=32))
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() <= 1 / 255


def test_tiled_equals_untiled_for_a_shallow_network_and_odd_sizes():
    model = tiny_model(build_network("srvgg", scale=3, num_feat=8, num_conv=2))  # receptive radius 4
    x = torch.rand(1, 3, 53, 47)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=20, tile_overlap=16))
    assert (tiled - whole).abs().max().item() <= 1 / 255


def test_too_little_overlap_shows_seams_so_the_overlap_test_can_fail(shared):
    model = load_model(shared / "weights/realesrgan/realesr-animevideov3.pth")
    x = _photo_crop(shared)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    tiled = upscale_tensor(model, x, TileOptions(tile=32, tile_overlap=0))
    assert (tiled - whole).abs().max().item() > 4 / 255


def test_network_never_sees_more_than_one_tile():
    network = build_network("srvgg", scale=2, num_feat=8, num_conv=1)
    seen = []
    # On CPU a call takes a batch of tiles (engine.tiles.tile_batch): each is one tile in size.
    network.register_forward_hook(lambda _m, inputs, _o: seen.append(tuple(inputs[0].shape)))
    upscale_tensor(tiny_model(network), torch.rand(1, 3, 150, 90), TileOptions(tile=32, tile_overlap=8))
    assert sum(s[0] for s in seen) > 10 and max(max(s[2:]) for s in seen) <= 32


def test_auto_tile_size_respects_the_memory_budget():
    model = tiny_model(build_network("srvgg", scale=4, num_feat=64, num_conv=4))
    big, small = choose_tile_size(model, 1 << 30), choose_tile_size(model, 8 << 20)
    assert small < big <= CPU_TILE_CAP and small % 16 == 0


def test_tta_of_a_dihedral_equivariant_model_changes_nothing():
    model = load_model("bicubic", scale=2)
    x = torch.rand(1, 3, 20, 24)
    plain = upscale_tensor(model, x, TileOptions(tile=0))
    ensembled = upscale_tensor(model, x, TileOptions(tile=0, tta=True))
    assert (plain - ensembled).abs().max().item() < 1e-5


def test_tta_averages_eight_transforms():
    calls = []
    model = tiny_model(build_network("srvgg", scale=2, num_feat=4, num_conv=1))
    model.network.register_forward_hook(lambda *_: calls.append(1))  # after the model's own probe run
    upscale_tensor(model, torch.rand(1, 3, 10, 12), TileOptions(tile=0, tta=True))
    assert len(calls) == 8


def test_one_model_used_from_several_threads_gives_the_serial_results(shared):
    model = load_model(shared / "weights/imdn/IMDN_x2.pth")
    inputs = [torch.rand(1, 3, 24 + 4 * i, 30) for i in range(4)]
    expected = [upscale_tensor(model, x, TileOptions(tile=16, tile_overlap=4)) for x in inputs]
    results: dict[int, torch.Tensor] = {}

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = upscale_tensor(model, inputs[i], TileOptions(tile=16, tile_overlap=4))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, want in enumerate(expected):
        assert torch.allclose(results[i], want, atol=1e-6)


def test_automatic_tile_size_does_not_touch_the_shared_network(monkeypatch):
    """Choosing a tile size must not register hooks on a model other threads may be running."""
    model = tiny_model(build_network("srvgg", scale=2, num_feat=8, num_conv=1))

    def refuse(*_args, **_kwargs):
        raise AssertionError("hook registered on a shared network")

    monkeypatch.setattr(torch.nn.Module, "register_forward_hook", refuse)
    out = upscale_tensor(model, torch.rand(1, 3, 40, 30), TileOptions(tile=None))
    assert out.shape == (1, 3, 80, 60)


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "multiple"), [(100, 40, 8, 8), (333, 64, 16, 16), (50, 48, 24, 12)]
)
def test_windows_are_a_multiple_of_the_networks_window_where_the_axis_allows(length, tile, overlap, multiple):
    size, starts = axis_windows(length, tile, overlap, multiple=multiple)
    assert size % multiple == 0 and size <= tile and starts[-1] + size == length
    for a, b in itertools.pairwise(starts):
        assert a + size - b >= overlap


def test_a_padding_network_gets_tiles_of_its_multiple_and_a_seamless_result(shared):
    """A network that pads to a multiple of 12 (as window attention does): tiles of 64 are
    run as 60 (whole windows), and the blend still covers every pixel."""
    from superres.engine.tiles import tile_count

    model = load_model("bicubic", scale=2)
    model.network.size_multiple = 12
    assert model.size_multiple == 12
    x = _photo_crop(shared)
    whole = upscale_tensor(model, x, TileOptions(tile=0))
    shapes = []
    original = model.network.forward
    model.network.forward = lambda t: (shapes.extend([tuple(t.shape[-2:])] * len(t)), original(t))[
        1
    ]  # per tile
    tiled = upscale_tensor(model, x, TileOptions(tile=64, tile_overlap=16))
    assert all(h % 12 == 0 and w % 12 == 0 and max(h, w) <= 60 for h, w in shapes), shapes
    assert len(shapes) == tile_count(model, *x.shape[-2:], TileOptions(tile=64, tile_overlap=16))
    assert torch.isfinite(tiled).all() and (tiled - whole).abs().max().item() <= 1 / 255
