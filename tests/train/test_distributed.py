"""The distributed helpers in a single process (tests/train/test_ddp.py runs two)."""

from __future__ import annotations

import torch

from superres.train.distributed import (
    Distributed,
    all_ranks_finite,
    ddp_wrapper,
    join_process_group,
    leave_process_group,
    wait_for_main,
)


def test_one_process_joins_no_group_and_wraps_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ranks, device = join_process_group("cpu")
    assert ranks == Distributed() and ranks.is_main and device == "cpu"
    assert not Distributed(rank=1, world_size=2).is_main
    module = torch.nn.Linear(2, 2)
    assert ddp_wrapper(ranks)(module) is module
    wait_for_main(ranks)  # no group: returns at once
    leave_process_group(ranks)
    assert all_ranks_finite(torch.tensor(1.0), ranks)
    assert not all_ranks_finite(torch.tensor(float("inf")), ranks)
