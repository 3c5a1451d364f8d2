"""Helpers for the hostile-input tests: run a superres command in-process as a user would,
and check what it left on disk.

Every case asserts the same four things: no traceback, the documented exit code (0 done, 1 a
file or run failed, 2 bad usage or an unusable model), nothing written outside the place
the user named, and no file that existed before replaced.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from superres.cli import main


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def run_superres(*args: str | os.PathLike) -> Outcome:
    """``superres ARGS`` in this process; an exception escaping ``main`` is a traceback the
    user would have seen, so it fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            pytest.fail(f"superres {' '.join(map(str, args))}: traceback ({type(exc).__name__}: {exc})")
    text = err.getvalue()
    assert "Traceback (most recent call last)" not in text, text
    return Outcome(int(code), out.getvalue(), text)


def tree_state(root: Path) -> dict[Path, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (ns)."""
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def assert_only_added_under(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]],
                            allowed: Path) -> None:  # fmt: skip
    """No file of ``before`` changed or vanished, and every new file lies under ``allowed``."""
    changed = [p for p, state in before.items() if after.get(p) != state]
    assert not changed, f"replaced or removed: {changed}"
    outside = [p for p in after.keys() - before.keys() if not p.is_relative_to(allowed)]
    assert not outside, f"written outside {allowed}: {outside}"
