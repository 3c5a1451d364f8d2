"""Atomic file output: write to a temporary file beside the target, then rename over it.

A crash or kill mid-write leaves the previous file (if any) intact and at worst a hidden
``.NAME.superres-PID@HOST.XXXXXXXX.tmpSUFFIX`` file behind, never a truncated output;
:func:`remove_stale_temp_files` removes those of this machine's processes that are gone (a
folder shared over the network also holds other machines' writes in progress, whose process
ids mean nothing here: theirs are removed only once a day old).

Every file written here carries the extended attribute ``user.superres``, so a later run
can tell its own results from a user's file of the same name (:func:`written_by_superres`).
A file system without user extended attributes keeps no mark: its files count as not
written by superres.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

MARK = "user.superres"
STALE_AFTER_S = 24 * 3600  # a temp file not written to for this long is stale whatever its process
_TEMP_NAME = re.compile(
    r"\..+\.superres-(?P<pid>\d+)(?:@(?P<host>[A-Za-z0-9_-]{1,64}))?\.[a-z0-9_]{8}\.tmp(?:\.[A-Za-z0-9]+)?",
    re.DOTALL,
)


def _host() -> str:
    """This machine's name as temp file names hold it (letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "_"


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


def _mark(path: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):  # no user xattrs here (or not Linux): unmarked
        os.setxattr(path, MARK, b"1")


def written_by_superres(path: str | Path) -> bool:
    """Whether ``path`` is a file superres wrote (and nobody replaced since); not for a symlink."""
    try:
        return os.getxattr(path, MARK, follow_symlinks=False) == b"1"
    except (OSError, AttributeError):
        return False


def _temp_prefix(path: PurePath) -> str:
    return f".{path.stem}.superres-{os.getpid()}@{_host()}."


def temp_name(name: str) -> str:
    """A new hidden name for a file being written as ``name`` elsewhere (another file system
    or object store), of the form :func:`atomic_output` uses and stale-file cleanup knows."""
    path = PurePath(name)
    return f"{_temp_prefix(path)}{secrets.token_hex(4)}.tmp{path.suffix}"


def mark_written(path: str | Path) -> None:
    """Mark a local file as written by superres (see :func:`written_by_superres`)."""
    _mark(Path(path))


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced, marked as superres's and
    renamed to ``path``."""
    path = Path(path)
    prefix = _temp_prefix(path)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp creates files private (0600)
        _mark(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _is_stale(entry: os.DirEntry, now: float) -> bool:
    match = _TEMP_NAME.fullmatch(entry.name)
    if match is None or not entry.is_file(follow_symlinks=False):
        return False
    age = now - entry.stat(follow_symlinks=False).st_mtime
    if age > STALE_AFTER_S:
        return True
    return match["host"] in (None, _host()) and not _running(int(match["pid"]))


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Remove the temp files :func:`atomic_output` left in ``folder`` when its process was
    killed (a process of this machine that is gone, or any file unwritten for a day); the
    paths removed."""
    now = time.time()
    removed = []
    try:
        with os.scandir(folder) as entries:
            stale = [Path(entry.path) for entry in entries if _is_stale(entry, now)]
    except OSError:
        return []
    for path in stale:
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed
