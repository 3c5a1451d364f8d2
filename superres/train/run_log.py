"""What a training run reports as it goes: ``log.jsonl`` (one JSON record per
``train.log_interval`` iterations), TensorBoard scalars when the optional package is installed,
and the progress bar. Only the main process logs."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from tqdm import tqdm

    from superres.train.recipe import Recipe

LOG_NAME = "log.jsonl"


@dataclass
class StepTimes:
    """Seconds spent waiting for batches and computing steps since the last log record."""

    data: float = 0.0
    compute: float = 0.0
    steps: int = 0

    def add(self, data: float, compute: float) -> None:
        self.data += data
        self.compute += compute
        self.steps += 1

    def reset(self) -> None:
        self.data, self.compute, self.steps = 0.0, 0.0, 0


def log_record(
    done: int, lr: float, terms: dict[str, torch.Tensor], times: StepTimes, batch_size: int
) -> dict[str, Any]:
    """One ``log.jsonl`` record: the iteration, learning rate, loss terms and throughput."""
    total = times.data + times.compute
    record = {"iteration": done, "lr": lr}
    record.update({k: round(v.item(), 6) for k, v in terms.items()})
    record.update(
        {
            "it_per_s": round(times.steps / total, 3),
            "samples_per_s": round(times.steps * batch_size / total, 2),
            "data_share": round(times.data / total, 3),  # time waiting for the loader
        }
    )
    return record


def drop_log_records_after(log_path: Path, iteration: int) -> None:
    """Drop the records past ``iteration``: a run killed after its last checkpoint logged
    iterations that the resumed run repeats."""
    if log_path.exists():
        lines = log_path.read_text(errors="replace").splitlines(keepends=True)
        kept = []
        for number, line in enumerate(lines, 1):
            done = _record_iteration(line)
            if done is None:
                warnings.warn(f"{log_path}: line {number} is not a log record; dropped", stacklevel=2)
            elif done <= iteration:
                kept.append(line if line.endswith("\n") else line + "\n")
        if kept != lines:
            log_path.write_text("".join(kept))


def _record_iteration(line: str) -> int | None:
    """The iteration of one log line, or None for a line that is not a record (a torn write)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    done = record.get("iteration") if isinstance(record, dict) else None
    return done if isinstance(done, int) and not isinstance(done, bool) else None


def append_record(log_path: Path, record: dict[str, Any]) -> None:
    """Append one record line; a failed write (a full disk) is undone, so no torn line stays,
    and raised as OSError naming the log."""
    size = log_path.stat().st_size if log_path.exists() else 0
    try:
        with open(log_path, "a") as log_file:
            log_file.write(json.dumps(record) + "\n")
    except OSError as exc:
        with open(log_path, "r+b") as log_file:
            log_file.truncate(size)
        raise OSError(exc.errno, exc.strerror, str(log_path)) from None


def tensorboard_writer(run_dir: Path):
    """A TensorBoard writer for ``run_dir/tensorboard`` if the optional package is installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class RunLog:
    """The main process's log: a record every ``train.log_interval`` iterations and at the last
    one, and each validation's results."""

    def __init__(self, recipe: Recipe, optimizer: torch.optim.Optimizer, bar: tqdm) -> None:
        self.path, self.name = recipe.run_dir / LOG_NAME, recipe.name
        self.interval, self.iterations = recipe.train.log_interval, recipe.train.iterations
        self.batch_size, self.optimizer, self.bar = recipe.data.batch_size, optimizer, bar
        self.writer = tensorboard_writer(recipe.run_dir)

    def after_step(self, done: int, terms: dict[str, torch.Tensor], times: StepTimes) -> None:
        if not (done % self.interval == 0 or done == self.iterations):
            return
        record = log_record(done, self.optimizer.param_groups[0]["lr"], terms, times, self.batch_size)
        times.reset()
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("iteration", "it_per_s")})
        append_record(self.path, record)
        if self.writer is not None:
            for key, value in record.items():
                if key != "iteration":
                    self.writer.add_scalar(f"train/{key}", value, done)

    def validation(self, done: int, metrics: dict[str, dict[str, float]]) -> None:
        if self.writer is not None:
            for set_name, values in metrics.items():
                self.writer.add_scalar(f"val/{set_name}_psnr", values["psnr"], done)
        psnrs = ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in metrics.items())
        self.bar.write(f"[{self.name}] iteration {done}: {psnrs}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
