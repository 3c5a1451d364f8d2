"""The work folder of a video upscale: the encoded video in segments of frames, each file
complete once its name appears, so a killed run restarted with ``--resume`` keeps the
segments it finished.

The folder is ``.<output name>.superres-video`` beside the output; ``job.json`` in it
records what the segments were made from and how (input size and modification time, model,
options). A run without ``--resume``, or one whose job differs, empties it first; a folder
of that name without ``job.json`` is not superres's and is refused. It is removed once the
output is written.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from superres.atomic import atomic_output
from superres.errors import SuperresError

JOB_FILE = "job.json"
SEGMENT_SUFFIX = ".nut"  # NUT keeps any codec and the input's time base exactly
# Added to every timestamp in a segment (and taken off in the output): NUT holds no negative
# decode time, which an encoder that reorders frames gives its first ones, and would shift them.
SEGMENT_OFFSET = Fraction(10)


@dataclass(frozen=True)
class WorkFolder:
    path: Path

    @classmethod
    def for_output(cls, target: Path) -> WorkFolder:
        return cls(target.parent / f".{target.name}.superres-video")

    def segment(self, number: int) -> Path:
        return self.path / f"seg-{number:05d}{SEGMENT_SUFFIX}"

    def finished(self) -> int:
        """How many segments, from the first, are complete."""
        count = 0
        while self.segment(count).is_file():
            count += 1
        return count

    def segments(self) -> list[Path]:
        return [self.segment(number) for number in range(self.finished())]

    def prepare(self, job: dict, *, resume: bool) -> int:
        """Make the folder ready for ``job`` (JSON data); the number of finished segments
        kept (only with ``resume`` and the same job; else none)."""
        recorded = self.path / JOB_FILE
        if self.path.exists() or self.path.is_symlink():
            if not self.path.is_dir() or self.path.is_symlink() or not recorded.is_file():
                raise SuperresError(f"{self.path} exists and superres did not make it; remove it or use -o")
            if resume and _read_job(recorded) == job:
                return self.finished()
            self.remove()
        self.path.mkdir(parents=True)
        with atomic_output(recorded) as tmp:
            tmp.write_text(json.dumps(job, indent=1, sort_keys=True))
        return 0

    def remove(self) -> None:
        """Remove the folder and what superres wrote in it (segments, temporary files)."""
        if (self.path / JOB_FILE).is_file():
            shutil.rmtree(self.path, ignore_errors=True)


def _read_job(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
