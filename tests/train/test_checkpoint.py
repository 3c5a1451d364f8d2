"""Checkpoints: exact resume, no clobbering, kill safety."""

from __future__ import annotations

import errno
import json
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


class _FullDiskFile:
    """A file on a disk that fills up once ``room`` bytes are written: the write that overflows
    writes what fits, then raises ENOSPC."""

    def __init__(self, real, room: int) -> None:
        self.real, self.room = real, room

    def write(self, data):
        if len(data) > self.room:
            self.real.write(data[: self.room])
            self.real.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.real.write(data)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def _train_tiny(tmp_path, shared, *overrides):
    from tests.fuzz.conftest import run_superres

    args = ["train", TINY, "-q", "--set", f"output={tmp_path}", f"data.train=[{shared / 'data/train/T91'}]",
            "val.sets=[]", "train.iterations=4", "train.checkpoint_interval=2", "train.log_interval=1",
            *overrides]  # fmt: skip
    return run_superres(*args)


def test_a_full_disk_while_logging_stops_in_one_line_and_leaves_no_torn_record(shared, tmp_path, monkeypatch):
    import superres.train.run_log as run_log

    opened = {"n": 0}

    def open_on_a_filling_disk(path, mode="r", *args, **kwargs):
        opened["n"] += 1
        real = open(path, mode, *args, **kwargs)  # noqa: SIM115 (returned open)
        return _FullDiskFile(real, 10) if opened["n"] == 3 else real  # the third record

    monkeypatch.setattr(run_log, "open", open_on_a_filling_disk, raising=False)
    outcome = _train_tiny(tmp_path, shared)
    run_dir = tmp_path / "tiny-test"
    assert outcome.code == 1
    assert outcome.err.count("\n") == 1 and "No space left on device" in outcome.err, outcome.err
    assert str(run_dir / "log.jsonl") in outcome.err
    assert f"{run_dir / CHECKPOINT_NAME} (iteration 2)" in outcome.err
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [1, 2]
    assert torch.load(run_dir / CHECKPOINT_NAME, weights_only=True)["iteration"] == 2


def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint(shared, tmp_path, monkeypatch):
    import superres.train.checkpoint as checkpoint

    real_save = torch.save
    saves = {"n": 0}

    def save_on_a_filling_disk(state, target, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] < 2:
            return real_save(state, target, *args, **kwargs)
        with open("/dev/full", "wb") as full:  # what a full disk does to torch.save
            return real_save(state, full, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save_on_a_filling_disk)
    outcome = _train_tiny(tmp_path, shared)
    run_dir = tmp_path / "tiny-test"
    assert outcome.code == 1
    assert outcome.err.count("\n") == 1 and "No space left on device" in outcome.err, outcome.err
    assert f"{run_dir / CHECKPOINT_NAME}" in outcome.err and "(iteration 2)" in outcome.err, outcome.err
    assert torch.load(run_dir / CHECKPOINT_NAME, weights_only=True)["iteration"] == 2
    assert sorted(p.name for p in run_dir.iterdir()) == [CHECKPOINT_NAME, "log.jsonl", "recipe.yaml"]


@pytest.mark.parametrize("damage", ["garbage", "empty", "keyless", "not_a_mapping"])
def test_resume_from_a_damaged_checkpoint_says_so_in_one_line(shared, tmp_path, damage):
    """torch.load's own error suggested weights_only=False: running code from the file."""
    checkpoint = tmp_path / "tiny-test" / CHECKPOINT_NAME
    checkpoint.parent.mkdir()
    if damage == "garbage":
        checkpoint.write_bytes(b"\x80\x04garbage that is no checkpoint" * 10)
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    else:
        torch.save({"iteration": 3} if damage == "keyless" else [1, 2], checkpoint)
    outcome = _train_tiny(tmp_path, shared, "--resume")
    assert outcome.code == 1
    assert outcome.err.startswith(f"error: {checkpoint}: damaged checkpoint, cannot resume from it")
    assert outcome.err.count("\n") == 1 and "weights_only" not in outcome.err, outcome.err


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_checkpoints_and_resumes_exactly(shared, tmp_path, signal_number):
    """Ctrl-C (or a scheduler's SIGTERM) gave a KeyboardInterrupt traceback and lost everything
    since the last checkpoint: now the run checkpoints where it is and says so in one line."""
    data = f"data.train=[{shared / 'data/train/T91'}]"
    common = [data, "val.sets=[]", "train.iterations=100000", "train.checkpoint_interval=100000",
              "train.log_interval=1"]  # fmt: skip
    args = [sys.executable, "-m", "superres", "train", str(TINY), "-q", "--set", f"output={tmp_path / 'a'}",
            *common]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # as the in-process runs below
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = tmp_path / "a/tiny-test/log.jsonl"
    deadline = time.time() + 120
    while (not log.exists() or log.read_text().count("\n") < 2) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    checkpoint = tmp_path / "a/tiny-test" / CHECKPOINT_NAME
    assert process.returncode == 128 + signal_number, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert str(checkpoint) in err and "--resume" in err, err
    stopped = torch.load(checkpoint, weights_only=True)["iteration"]
    assert 2 <= stopped < 100000
    # Resume for three more iterations; the same iterations straight give the same weights.
    from tests.fuzz.conftest import run_superres

    more = ["train", TINY, "-q", "--resume", "--stop-after", str(stopped + 3),
            "--set", f"output={tmp_path / 'a'}"]  # fmt: skip
    assert run_superres(*more, *common).code == 0
    straight = tiny(tmp_path / "b", shared, *common[1:])
    train(straight, progress=False, stop_after=stopped + 3)
    a = torch.load(checkpoint, weights_only=True)
    b = torch.load(tmp_path / "b/tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert a["iteration"] == b["iteration"] == stopped + 3
    for part in ("network", "ema"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
