"""The training loop: stopping on a non-finite loss, bf16 autocast."""

from __future__ import annotations

import pytest
import torch

from superres.train.checkpoint import CHECKPOINT_NAME
from superres.train.loop import TrainingStoppedError
from superres.train.trainer import train
from superres.weights import load_network
from tests.train.conftest import tiny


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(shared, tmp_path, monkeypatch):
    import superres.train.parts as parts

    recipe = tiny(tmp_path, shared, "train.iterations=10", "train.checkpoint_interval=3", "val.sets=[]")
    calls = {"n": 0}
    l1 = torch.nn.functional.l1_loss

    def exploding(prediction, target):
        calls["n"] += 1
        return l1(prediction, target) * (float("nan") if calls["n"] == 5 else 1.0)

    monkeypatch.setattr(parts, "pixel_loss", lambda name: exploding)
    with pytest.raises(TrainingStoppedError, match=r"non-finite loss \(nan\) at iteration 5.*iteration 3\)"):
        train(recipe, progress=False)
    state = torch.load(tmp_path / "tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert state["iteration"] == 3 and all(torch.isfinite(v).all() for v in state["network"].values())


@pytest.mark.slow
def test_bf16_channels_last_training_tracks_fp32(shared, tmp_path):
    """bf16 autocast changes the arithmetic (so the weights differ) but not what is learnt."""
    fp32_path, fp32 = train(
        tiny(tmp_path / "a", shared, "train.iterations=40", "val.interval=40"), progress=False
    )
    fast = tiny(tmp_path / "b", shared, "train.iterations=40", "val.interval=40", "train.precision=bf16",
          "train.channels_last=true")  # fmt: skip
    bf16_path, bf16 = train(fast, progress=False)
    assert bf16["training"]["precision"] == "bf16"
    a, b = (load_network(p)[0].state_dict()["body.0.weight"] for p in (fp32_path, bf16_path))
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=0.05)
    assert abs(bf16["metrics"]["Set5"]["psnr"] - fp32["metrics"]["Set5"]["psnr"]) < 0.05  # 30.85 both


def test_run_iterations_calls_the_hooks_in_order_after_every_step(shared, tmp_path):
    from superres.train.distributed import Distributed
    from superres.train.loop import run_iterations
    from superres.train.parts import build_parts, network_params

    recipe = tiny(tmp_path, shared, "val.sets=[]")
    ranks = Distributed()
    parts = build_parts(recipe, network_params(recipe), torch.device("cpu"), ranks, False)
    batches = [(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)) for _ in range(3)]
    calls = []

    class Hook:
        def __init__(self, name):
            self.name = name

        def after_step(self, done, terms, times):
            calls.append((self.name, done, sorted(terms), times.steps))

    class Bar:
        updates = 0

        def update(self):
            Bar.updates += 1

    class Checkpoints:
        last_good = "no checkpoint yet"

    before = [p.detach().clone() for p in parts.network.parameters()]
    run_iterations(parts, recipe.train, batches, iterations=range(5, 8), ranks=ranks,
                   checkpoints=Checkpoints(), hooks=[Hook("a"), Hook("b")], bar=Bar())  # fmt: skip
    assert calls == [(name, done, ["l1"], done - 5) for done in (6, 7, 8) for name in ("a", "b")]
    assert Bar.updates == 3
    assert not all(torch.equal(a, b) for a, b in zip(before, parts.network.parameters(), strict=True))
