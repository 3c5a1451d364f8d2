"""Checkpoints: exact resume, no clobbering, kill safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from superres.errors import SuperresError
from superres.train.checkpoint import CHECKPOINT_NAME
from superres.train.trainer import train
from tests.train.conftest import ROOT, TINY, tiny


@pytest.mark.slow
def test_resume_is_exact(shared, tmp_path):
    straight = tiny(
        tmp_path / "a", shared, "train.iterations=12", "train.checkpoint_interval=100", "val.sets=[]"
    )
    train(straight, progress=False)
    halves = tiny(
        tmp_path / "b", shared, "train.iterations=12", "train.checkpoint_interval=100", "val.sets=[]"
    )
    path, info = train(halves, progress=False, stop_after=6)
    assert path is None and info["stopped_at"] == 6
    train(halves, resume=True, progress=False)
    a = torch.load(tmp_path / "a/tiny-test" / CHECKPOINT_NAME, weights_only=True)
    b = torch.load(tmp_path / "b/tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert a["iteration"] == b["iteration"] == 12
    for part in ("network", "ema"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for i, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], b["optimizer"]["state"][i]["exp_avg"])


def test_refuses_to_clobber_or_resume_nothing(shared, tmp_path):
    recipe = tiny(tmp_path, shared, "train.iterations=2", "val.sets=[]")
    with pytest.raises(SuperresError, match="nothing to resume"):
        train(recipe, resume=True, progress=False)
    train(recipe, progress=False)
    with pytest.raises(SuperresError, match="already holds a checkpoint"):
        train(recipe, progress=False)


@pytest.mark.slow
def test_kill_during_training_never_corrupts_the_checkpoint(shared, tmp_path):
    """SIGKILL a run that checkpoints every iteration; the checkpoint left behind loads."""
    args = [sys.executable, "-m", "superres", "train", str(TINY), "-q", "--set", f"output={tmp_path}",
            f"data.train=[{shared / 'data/train/T91'}]", "val.sets=[]", "train.iterations=100000",
            "train.checkpoint_interval=1"]  # fmt: skip
    process = subprocess.Popen(args, cwd=ROOT)
    checkpoint = tmp_path / "tiny-test" / CHECKPOINT_NAME
    deadline = time.time() + 60
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # let it write many more checkpoints, then kill it mid-stream
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    state = torch.load(checkpoint, weights_only=True)
    assert state["iteration"] >= 1 and np.isfinite(state["elapsed"])
