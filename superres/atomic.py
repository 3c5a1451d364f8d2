"""Atomic file output: write to a temporary file beside the target, then rename over it.

A crash or kill mid-write leaves the previous file (if any) intact and at worst a hidden
``.NAME.*.tmp`` file behind, never a truncated output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _new_file_mode(path: Path) -> int:
    """Permissions the output would have had if opened normally: an existing file's own,
    else 0o666 minus the umask (read without changing it, which would race other threads)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = 0o022
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    except OSError:
        pass
    return 0o666 & ~umask


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed to ``path``."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp creates files private (0600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
