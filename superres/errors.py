"""The one exception type users see: a one-line message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class SuperresError(Exception):
    """A problem with an input (image, weights file, option) that the user can fix."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)
