"""benchmarks/discriminator_probe.py: a discriminator's judgement of HR patches against the
generator's output, and the script on a GAN run's checkpoint."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from superres.train.recipe import load_recipe
from superres.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks/discriminator_probe.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_discriminator_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Brightness(nn.Module):
    """Calls bright pixels real: logit 100 x (mean over channels - 0.5), per pixel."""

    def forward(self, x):
        return (x.mean(1, keepdim=True) - 0.5) * 100, []


@pytest.mark.parametrize("hr_value, output_value, right", [(1.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 1.0, 0.5)])
def test_judge_counts_real_for_hr_and_fake_for_the_generators_output(hr_value, output_value, right):
    judge = _load().judge
    hr = torch.full((2, 3, 16, 16), hr_value)
    generator = lambda lr: torch.full((lr.shape[0], 3, 16, 16), output_value)  # noqa: E731
    on_hr, on_output, share = judge(_Brightness(), generator, torch.zeros(2, 3, 4, 4), hr)
    assert on_hr == pytest.approx(hr_value, abs=1e-6) and on_output == pytest.approx(output_value, abs=1e-6)
    assert share == pytest.approx(right)


@pytest.mark.slow
def test_the_script_reads_a_gan_runs_checkpoint(shared, tmp_path):
    overrides = [f"output={tmp_path}", "name=gan", f"data.train=[{shared / 'data/train/T91'}]", "val.sets=[]",
                 "data.patch_size=16", "train.iterations=2", "train.checkpoint_interval=2",
                 "train.gan={discriminator: unet, discriminator_params: {num_feat: 8}}"]  # fmt: skip
    train(load_recipe(ROOT / "recipes/tiny-test.yaml", overrides), progress=False)
    probe = [sys.executable, str(SCRIPT), "--data", str(shared / "data/test/Set5"), "--patches", "3"]
    done = subprocess.run([*probe, str(tmp_path / "gan")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gan at iteration 2, 3 patches of Set5: P(real) 0.")
    plain = tmp_path / "plain"  # a run without a discriminator
    plain.mkdir()
    (plain / "recipe.yaml").write_text((ROOT / "recipes/tiny-test.yaml").read_text())
    done = subprocess.run([*probe, str(plain)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr == f"error: {plain}: its recipe has no train.gan\n"
