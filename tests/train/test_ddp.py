"""Distributed training: 2 CPU processes (gloo) under torchrun equal one process with the
same global batch, and both ranks end with identical weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from superres.train.recipe import load_recipe
from superres.train.trainer import train
from superres.weights import load_network, read_metadata

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes/tiny-test.yaml"


@pytest.mark.slow
def test_two_cpu_processes_match_one_process(shared, tmp_path):
    data = [f"data.train=[{shared / 'data/train/T91'}]", "val.sets=[]", "data.batch_size=4"]
    overrides = [*data, "train.iterations=6", "train.checkpoint_interval=3"]
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
    ]
    ddp_cmd = [
        *launcher,
        "-m",
        "superres",
        "train",
        str(TINY),
        "-q",
        "--set",
        f"output={tmp_path / 'ddp'}",
        *overrides,
    ]
    result = subprocess.run(ddp_cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ddp_file = tmp_path / "ddp/tiny-test/tiny-test.safetensors"
    card = read_metadata(ddp_file)["card"]
    assert card["training"]["processes"] == 2  # and the trainer compared both ranks' weights exactly

    single_path, _ = train(load_recipe(TINY, [f"output={tmp_path / 'one'}", *overrides]), progress=False)
    ddp_net, *_ = load_network(ddp_file)
    one_net, *_ = load_network(single_path)
    for (name, a), (_, b) in zip(ddp_net.state_dict().items(), one_net.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    # not trivially equal to the untrained network either
    one_step = load_recipe(TINY, [f"output={tmp_path / 'zero'}", *data, "train.iterations=1"])
    barely_trained, _ = train(one_step, progress=False)
    zero_net, *_ = load_network(barely_trained)
    assert not torch.allclose(zero_net.state_dict()["body.0.weight"], one_net.state_dict()["body.0.weight"])


@pytest.mark.slow
def test_a_distributed_run_stopped_by_a_signal_checkpoints_and_resumes(shared, tmp_path):
    """Ctrl-C on torchrun: it passes the signal to both ranks, which agree to stop after the
    same step; rank 0 checkpoints there (a DDP run lost everything since its last checkpoint
    before, its ranks ending in tracebacks), and --resume continues in one process."""
    import os
    import signal
    import time

    from superres.train.checkpoint import CHECKPOINT_NAME
    from tests.fuzz.conftest import run_superres

    common = [f"data.train=[{shared / 'data/train/T91'}]", "val.sets=[]", "data.batch_size=4",
              "train.iterations=100000", "train.checkpoint_interval=100000",
              "train.log_interval=1"]  # fmt: skip
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29534"]  # fmt: skip
    command = [*launcher, "-m", "superres", "train", str(TINY), "-q", "--set", f"output={tmp_path}", *common]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "tiny-test/log.jsonl"
    deadline = time.time() + 240
    while (not log.exists() or log.read_text().count("\n") < 3) and time.time() < deadline:
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    checkpoint = tmp_path / "tiny-test" / CHECKPOINT_NAME
    assert checkpoint.exists(), err[-3000:]
    assert "SIGINT: stopped at iteration" in err and "continue with --resume" in err, err[-3000:]
    stopped = torch.load(checkpoint, weights_only=True)["iteration"]
    assert 3 <= stopped < 100000
    resumed = run_superres("train", TINY, "-q", "--resume", "--stop-after", str(stopped + 2),
                           "--set", f"output={tmp_path}", *common)  # fmt: skip
    assert resumed.code == 0, resumed.err
    assert torch.load(checkpoint, weights_only=True)["iteration"] == stopped + 2
