"""The run folder's checkpoint: the network, its EMA copy, the optimizer (and the adversary's
state), the RNG state, the iteration, the wall time so far and the validation history.

A checkpoint is written atomically (temp file + rename), so a kill mid-write leaves the last
complete one in place; with stateless data and a schedule that is a pure function of the
iteration, a run resumed from it continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from superres.atomic import atomic_output
from superres.errors import SuperresError
from superres.train.distributed import Distributed
from superres.train.parts import Parts
from superres.train.recipe import Recipe
from superres.train.run_log import StepTimes

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class Progress:
    """Where a run stands: restored from the checkpoint on resume."""

    start: int = 0  # iterations already done
    elapsed: float = 0.0  # wall time of the earlier sessions (s)
    history: list[dict[str, Any]] = field(default_factory=list)  # validation results


def check_run_dir(recipe: Recipe, resume: bool, ranks: Distributed) -> Path:
    """The run folder's checkpoint path, refusing to clobber or resume nothing. The folder itself
    is made once the network and its pretrained weights are built, so a bad start leaves none."""
    if recipe.data.batch_size % ranks.world_size:
        raise SuperresError(
            f"data.batch_size {recipe.data.batch_size} is not divisible by {ranks.world_size} processes"
        )
    checkpoint_path = recipe.run_dir / CHECKPOINT_NAME
    if checkpoint_path.exists() and not resume:
        raise SuperresError(
            "run folder already holds a checkpoint: pass --resume, or change name/output", recipe.run_dir
        )
    if resume and not checkpoint_path.exists():
        raise SuperresError("nothing to resume: no checkpoint here", recipe.run_dir)
    return checkpoint_path


def restore(parts: Parts, checkpoint_path: Path, arch: str, params: dict[str, Any]) -> Progress:
    """Load the checkpoint into ``parts`` and the global RNG; returns where the run stood."""
    state = read_checkpoint(checkpoint_path, parts.device)
    if state["arch"] != arch or json.loads(state["params"]) != json.loads(json.dumps(params)):
        raise SuperresError("checkpoint was made for another network than the recipe names", checkpoint_path)
    try:
        parts.network.load_state_dict(state["network"])
        if parts.ema is not None:
            parts.ema.load_state_dict(state["ema"])
        parts.optimizer.load_state_dict(state["optimizer"])
        if parts.adversary is not None:
            parts.adversary.load(state)
        torch.set_rng_state(state["rng"])
        return Progress(int(state["iteration"]), float(state["elapsed"]), json.loads(state["history"]))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise SuperresError(f"{_DAMAGED} ({type(exc).__name__}: {exc})", checkpoint_path) from None


_DAMAGED = "damaged checkpoint, cannot resume from it; start the run afresh in another folder"
_CHECKPOINT_KEYS = ("arch", "params", "iteration", "network", "ema", "optimizer", "rng", "elapsed", "history")


def read_checkpoint(checkpoint_path: Path, device: torch.device) -> dict[str, Any]:
    """The checkpoint's state, read without running code from the file; SuperresError naming it
    when it is not a whole checkpoint (torch's own message would suggest unsafe loading)."""
    try:
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
    except OSError as exc:
        raise SuperresError(f"cannot read the checkpoint ({exc.strerror or exc})", checkpoint_path) from None
    except Exception:  # torch.load raises anything for a damaged file
        raise SuperresError(f"{_DAMAGED} (not a checkpoint file)", checkpoint_path) from None
    missing = [key for key in _CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise SuperresError(f"{_DAMAGED} (no {', '.join(missing)})", checkpoint_path)
    return state


def checkpoint_state(parts: Parts, arch: str, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """What a checkpoint holds after ``progress.start`` iterations."""
    return {
        "arch": arch,
        "params": json.dumps(params),
        "iteration": progress.start,
        "network": parts.network.state_dict(),
        "ema": parts.ema.state_dict() if parts.ema is not None else {},
        "optimizer": parts.optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "elapsed": progress.elapsed,
        "history": json.dumps(progress.history),
        **(parts.adversary.state() if parts.adversary is not None else {}),
    }


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically; a failed write (a full disk) leaves the last checkpoint and
    raises OSError naming ``path``. Saved through a Python file so that the failure is the
    OSError itself, not torch's RuntimeError from its own writer."""
    try:
        with atomic_output(path) as tmp, open(tmp, "wb") as out:
            torch.save(state, out)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


class Checkpoints:
    """Writes the checkpoint every ``train.checkpoint_interval`` iterations and at ``stop``, and
    names the last one written (the message for a run that has to stop). Times the session:
    made just before its first iteration, on top of ``before.elapsed``."""

    def __init__(
        self,
        path: Path,
        parts: Parts,
        *,
        recipe: Recipe,
        params: dict[str, Any],
        before: Progress,
        resumed: bool,
        stop: int,
    ) -> None:
        """``before``: where the run stood at the start of this session (a resumed run's
        checkpoint, else a fresh Progress); the validation hook appends to its history."""
        self.path, self.parts, self.params, self.before, self.stop = path, parts, params, before, stop
        self.arch, self.interval = recipe.network.arch, recipe.train.checkpoint_interval
        self.started = time.perf_counter()
        self.saved_at = before.start if resumed else -1  # the iteration of the checkpoint on disk
        self.last_good = (
            f"last good checkpoint: {path} (iteration {before.start})" if resumed else "no checkpoint yet"
        )

    def elapsed(self) -> float:
        """Wall time of the whole run so far (s), earlier sessions included."""
        return self.before.elapsed + time.perf_counter() - self.started

    def after_step(self, done: int, terms: dict[str, torch.Tensor], times: StepTimes) -> None:
        if done % self.interval == 0 or done == self.stop:
            self.save(done)

    def save(self, done: int) -> None:
        """Write the checkpoint after ``done`` iterations."""
        progress = Progress(done, self.elapsed(), self.before.history)
        save_checkpoint(self.path, checkpoint_state(self.parts, self.arch, self.params, progress))
        self.last_good = f"last good checkpoint: {self.path} (iteration {done})"
        self.saved_at = done
