"""``superres upscale --ray`` on fsspec URLs (``s3://``, ``gs://``, ``file://``, ...).

The driver expands URL inputs (a folder, a glob, files) and plans their output URLs under
``-o`` by the local batch's naming rules (:func:`superres.batch.output_name`); outputs that
exist are skipped, so a rerun resumes. A Ray worker fetches each source to a local temporary
file, runs the same per-file function as the local command (:func:`run_remote_job`), and
uploads the result to a hidden temporary name beside the target, then moves it there
(:func:`upload`): a rename on a file system, copy then delete on an object store, so the
target never holds a partial file. fsspec is imported only here, when a URL is used.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from superres.atomic import mark_written, temp_name
from superres.batch import (
    BatchPlan,
    Inputs,
    OutputNaming,
    PlannedJob,
    is_scanned_input,
    names_one_image,
    output_name,
    suffix_problem,
)
from superres.errors import SuperresError
from superres.io import has_dicom_mark

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_WILDCARD = re.compile(r"[*?\[]")


def is_url(text: str | None) -> bool:
    """Whether ``text`` is a URL (``PROTOCOL://...``), not a local path."""
    return bool(text) and bool(_URL.match(text))


@dataclass(frozen=True)
class RemoteInput:
    """An input URL and where its output goes under ``-o`` (its name, or its path under a
    scanned folder)."""

    source: str
    relative: PurePosixPath
    found: bool = False  # by a folder or glob, not named on the command line


@dataclass(frozen=True)
class RemoteJob:
    """A planned job between URLs (a :class:`superres.batch.PlannedJob`'s fields)."""

    source: str
    target: str
    overwrites_input: bool = False
    replaces_other: bool = False  # never set: an existing output is skipped


def filesystem(url: str) -> tuple[Any, str]:
    """fsspec's file system for ``url`` and the path on it; SuperresError (one line) if the
    protocol is unknown or its package is not installed."""
    import fsspec.core

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:  # fsspec: "Install s3fs to access S3"
        raise SuperresError(f"its protocol needs a package: {_first_line(exc)}", url) from None
    except ValueError as exc:  # "Protocol not known: ..."
        raise SuperresError(_first_line(exc), url) from None


def url_problem(inputs: list[str], output: str | None, *, ray: bool) -> str | None:
    """Why URL inputs or ``-o`` cannot be used as given (None: they can, or there are none)."""
    urls = [item for item in [*inputs, output] if is_url(item)]
    if not urls:
        return None
    if not ray:
        return f"{urls[0]}: URL inputs and outputs run on Ray only: add --ray ADDRESS (docs/ray.md)"
    if not is_url(output):
        return "URL inputs need -o URL (a folder every node can write); results are not written beside them"
    if not all(is_url(item) for item in inputs):
        return f"-o {output} is a URL: give every input as a URL too (file:///PATH for a shared local one)"
    try:
        for url in urls:
            filesystem(url)
    except SuperresError as exc:
        return str(exc)
    return None


def collect_inputs(inputs: list[str], *, recursive: bool = False) -> Inputs:
    """:func:`superres.batch.collect_inputs` for URLs: folders (hidden files left out, the
    same suffix rules), globs and files; a URL named twice is one job."""
    jobs: dict[str, RemoteInput] = {}
    missing, other, not_files = [], [], []
    for item in inputs:
        fs, path = filesystem(item)
        try:
            found = _expand(fs, path, recursive=recursive)
        except Exception as exc:  # no credentials, no access, ...: this input fails
            not_files.append(f"{item}: cannot list it: {_first_line(exc)}")
            continue
        if found is None:
            missing.append(item)
        for file, relative, scanned in found or []:
            if not is_scanned_input(file, opener=fs.open):
                other.append(PurePosixPath(relative))
                continue
            url = fs.unstrip_protocol(file)
            jobs.setdefault(url, RemoteInput(url, PurePosixPath(relative), scanned))
    return Inputs(list(jobs.values()), missing, other, not_files)


def _expand(fs: Any, path: str, *, recursive: bool) -> list[tuple[str, str, bool]] | None:
    """(file, its output-relative name, found by a scan) for what ``path`` names; None if nothing."""
    if _WILDCARD.search(path):
        files = sorted(p for p, info in fs.glob(path, detail=True).items() if info["type"] == "file")
        found = [(p, posixpath.basename(p), True) for p in files]
        return [f for f in found if not f[1].startswith(".")] or None
    if fs.isdir(path):
        files = sorted(fs.find(path, maxdepth=None if recursive else 1))
        found = [(p, posixpath.relpath(p, path), True) for p in files]
        return [f for f in found if not any(part.startswith(".") for part in f[1].split("/"))]
    if fs.isfile(path):
        return [(path, posixpath.basename(path), False)]
    return None


def plan_batch(
    inputs: Inputs, naming: OutputNaming, *, skip_existing: bool = True, overwrite: bool = False
) -> BatchPlan:
    """:func:`superres.batch.plan_batch` for URLs: outputs that exist are always skipped (an
    object store keeps no mark of who wrote a file), whatever ``skip_existing`` and
    ``overwrite`` say."""
    problem = suffix_problem(naming)
    if problem is not None:
        return BatchPlan([], problem=problem)
    out_fs, out_path = filesystem(str(naming.output))
    single_file = len(inputs.jobs) == 1 and not inputs.missing
    if names_one_image(naming.output, is_dir=lambda _: out_fs.isdir(out_path)):
        if not single_file:
            count = len(inputs.jobs) + len(inputs.missing)
            message = f"-o names one image, but there are {count} inputs: give a folder"
            return BatchPlan([], problem=SuperresError(message, naming.output))
        targets = {inputs.jobs[0].source: out_fs.unstrip_protocol(out_path)}
    else:
        targets = {job.source: _target(job, naming, out_fs, out_path) for job in inputs.jobs}
    owned = set(targets.values())
    earlier = [job.source for job in inputs.jobs if job.found and job.source in owned]
    owners: dict[str, str] = {}
    planned, clashes = [], []
    for job in (job for job in inputs.jobs if job.source not in earlier):
        target = targets[job.source]
        if owners.setdefault(target, job.source) != job.source:
            clashes.append(
                f"{job.source}: its output {target} is {owners[target]}'s output too;"
                " nothing was written for it"
            )
        else:
            planned.append(job.source)
    skipped = [source for source in planned if out_fs.exists(filesystem(targets[source])[1])]
    sources = {job.source for job in inputs.jobs}
    jobs = [RemoteJob(s, targets[s], targets[s] in sources) for s in planned if s not in skipped]
    return BatchPlan(jobs, earlier, clashes, skipped)


def _target(job: RemoteInput, naming: OutputNaming, out_fs: Any, out_path: str) -> str:
    def dicom() -> bool:
        fs, path = filesystem(job.source)
        return has_dicom_mark(path, opener=fs.open)

    name = output_name(job.relative, naming, dicom=dicom)
    return out_fs.unstrip_protocol(posixpath.join(out_path, str(name)))


def run_remote_job(job: RemoteJob, run: Callable[[PlannedJob], None]) -> None:
    """Run one job between URLs on this worker: the source fetched to a local temporary file,
    ``run`` (the local command's per-file function) on it, the result uploaded by
    :func:`upload`; local temporary files are always removed. Raises why it failed, naming
    the source URL."""
    refusal = PlannedJob(job.source, job.target, overwrites_input=job.overwrites_input).refusal()
    if refusal is not None:
        raise refusal
    fs, path = filesystem(job.source)
    with tempfile.TemporaryDirectory(prefix="superres-ray-") as folder:
        source = Path(folder, "in", posixpath.basename(path))
        target = Path(folder, "out", posixpath.basename(filesystem(job.target)[1]))
        source.parent.mkdir()
        fs.get_file(path, str(source))
        try:
            run(PlannedJob(source, target))
        except SuperresError as exc:  # name the URL, not the temporary file
            raise SuperresError(exc.problem.replace(str(target), job.target), job.source) from None
        upload(target, job.target)


def upload(local: Path, target: str) -> None:
    """Put the file ``local`` at the URL ``target`` as atomically as its store allows: first
    under a hidden temporary name beside it (:func:`superres.atomic.temp_name`), then moved
    to ``target``. The temporary file is removed whatever happens."""
    from fsspec.implementations.local import LocalFileSystem

    fs, path = filesystem(target)
    parent = posixpath.dirname(path)
    temp = posixpath.join(parent, temp_name(posixpath.basename(path)))
    with contextlib.suppress(OSError):  # a folder on a file system; an object store needs none
        fs.makedirs(parent, exist_ok=True)  # (if this failed where one is needed, put_file says why)
    try:
        fs.put_file(str(local), temp)
        if isinstance(fs, LocalFileSystem):  # marked as superres's, as the local command does
            mark_written(temp)
        fs.mv(temp, path)
    finally:
        with contextlib.suppress(Exception):
            if fs.exists(temp):
                fs.rm_file(temp)


def remove_stale_temp_files(jobs: list[RemoteJob]) -> None:
    """For outputs on this machine's file system (``file://``): the temporary files killed
    writers left beside them removed, as the local command does (an object store's are not)."""
    from fsspec.implementations.local import LocalFileSystem

    from superres import atomic

    for target in {job.target for job in jobs}:
        fs, path = filesystem(target)
        if isinstance(fs, LocalFileSystem):
            atomic.remove_stale_temp_files(posixpath.dirname(path))


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
