"""Tiles run through the network in batches on CPU: the same result as one at a time, within
the memory budget."""

from __future__ import annotations

import torch

from superres.archs import build_network
from superres.engine import tiles
from superres.engine.options import TileOptions
from superres.models import SRModel
from tests.engine import tiny_model


def _model() -> SRModel:
    return tiny_model(build_network("srvgg", scale=2, num_feat=8, num_conv=2))


def test_batched_tiles_give_the_tile_by_tile_result(monkeypatch):
    model, x = _model(), torch.rand(1, 3, 40, 56)
    calls = []
    real = SRModel.__call__
    monkeypatch.setattr(SRModel, "__call__", lambda self, t: calls.append(len(t)) or real(self, t))
    options = TileOptions(tile=16, tile_overlap=4)
    batched = tiles.upscale_tensor(model, x, options)
    assert max(calls) == tiles.CPU_TILE_BATCH and sum(calls) == tiles.tile_count(model, 40, 56, options)
    monkeypatch.setattr(tiles, "CPU_TILE_BATCH", 1)
    single = tiles.upscale_tensor(model, x, options)
    assert torch.allclose(batched, single, atol=1e-6)


def test_the_batch_stays_within_the_memory_budget():
    model = _model()
    per_tile = model.activation_bytes_per_pixel * 64 * 64
    assert tiles.tile_batch(model, 64, 64, TileOptions(memory_budget=int(per_tile * 2.5))) == 2
    assert tiles.tile_batch(model, 64, 64, TileOptions(memory_budget=int(per_tile / 2))) == 1
    assert tiles.tile_batch(model, 64, 64, TileOptions()) == tiles.CPU_TILE_BATCH
