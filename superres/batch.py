"""The plan of a ``superres upscale`` batch: which inputs become which output files.

Inputs (files, folders, globs) expand to jobs; each job's output path is worked out once.
What is left out is returned as data for the command to report: inputs that matched
nothing, files of types superres does not read, earlier results of this run's own inputs,
inputs whose output another input already claims, and (``skip_existing``) inputs whose
output exists. A job whose output is an input, or an existing file superres did not write
(unless ``overwrite``), is flagged to fail. Importing this module does not import torch.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO

from superres.atomic import written_by_superres
from superres.errors import SuperresError
from superres.io import FORMATS, IMAGE_SUFFIXES, has_dicom_mark, is_image_file
from superres.io.formats import format_suffix
from superres.video.options import VIDEO_SUFFIXES, is_video

READ_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES  # image and video suffixes superres reads


@dataclass(frozen=True)
class Job:
    source: Path
    relative: Path  # where the output goes, relative to the output folder
    found: bool = False  # by a folder or glob, not named on the command line


@dataclass(frozen=True)
class Inputs:
    """What the command line's inputs expand to."""

    jobs: list[Job]
    missing: list[str]  # inputs that matched nothing
    other: list[Path]  # files folders held that are not of a type superres reads (hidden files aside)
    not_files: list[str] = field(default_factory=list)  # failure lines: inputs named that are no file


@dataclass(frozen=True)
class OutputNaming:
    """How output paths are made: ``output`` is ``-o`` (a folder, or one image file for a
    single input; None: beside each input), ``suffix`` is added to names, ``ext`` picks the
    format (None: as the input)."""

    output: str | None
    suffix: str
    ext: str | None = None


@dataclass(frozen=True)
class PlannedJob:
    source: Path
    target: Path
    overwrites_input: bool = False  # the target is an input of this batch: the job must fail
    replaces_other: bool = False  # the target is a file superres did not write: the job must fail

    def refusal(self) -> SuperresError | None:
        """Why this job must not write its target, if it must not."""
        if self.overwrites_input:
            message = f"output {self.target} would overwrite an input image; use --suffix or -o"
            return SuperresError(message, self.source)
        if self.replaces_other:
            return SuperresError(
                f"output {self.target} exists and superres did not write it; use --overwrite to replace it,"
                " or --suffix or -o",
                self.source,
            )
        return None


@dataclass(frozen=True)
class BatchPlan:
    jobs: list[PlannedJob]  # to run, in order
    earlier: list[Path] = field(default_factory=list)  # earlier results of these inputs, left out
    clashes: list[str] = field(default_factory=list)  # failure lines: outputs another input claims
    skipped: list[Path] = field(default_factory=list)  # outputs exist (skip_existing)
    problem: SuperresError | None = None  # why the batch cannot run at all (then no jobs)


def collect_inputs(inputs: list[str], *, recursive: bool = False) -> Inputs:
    """Expand files, folders and globs into jobs (a file named twice: one job)."""
    jobs: list[Job] = []
    missing: list[str] = []
    other: list[Path] = []
    not_files: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = _walk(path, "**/*" if recursive else "*")
            readable = {p: is_scanned_input(p) for p in files}
            jobs += [Job(p, p.relative_to(path), found=True) for p, ok in readable.items() if ok]
            other += [p for p, ok in readable.items() if not ok]
        elif path.is_file():
            jobs.append(Job(path, Path(path.name)))
        elif path.exists():  # opening a FIFO to read would wait for a writer forever
            not_files.append(f"{path}: {_file_kind(path)}, not an image file")
        elif any(ch in item for ch in "*?["):
            matches = _glob_files(item, recursive=recursive)
            if not matches:
                missing.append(item)
            jobs += [Job(p, Path(p.name), found=True) for p in matches]
        else:
            missing.append(item)
    unique = {job.source.resolve(): job for job in reversed(jobs)}
    return Inputs([job for job in jobs if unique[job.source.resolve()] is job], missing, other, not_files)


def is_scanned_input(path: str | Path, *, opener: Callable[..., IO[bytes]] = open) -> bool:
    """Whether a folder scan takes ``path`` as an input: a video or an image (DICOM by its
    mark, under any name); ``opener`` opens it (another file system's, for a URL)."""
    return is_video(path) or is_image_file(path, opener=opener)


def _file_kind(path: Path) -> str:
    mode = path.stat().st_mode
    kinds = [
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _walk(folder: Path, pattern: str) -> list[Path]:
    """The files ``pattern`` matches under ``folder``, sorted. Hidden files and folders are
    left out, as the shell's globs do (e.g. macOS ._NAME.jpg); ``**`` enters no symlinked
    folder (a loop would never end, a link out of the tree would put results outside it), and a
    match whose folder lies outside ``folder`` (a wildcard matching a symlinked folder) is left out."""
    root = folder.resolve()
    found = (p for p in folder.glob(pattern) if p.is_file() and p.parent.resolve().is_relative_to(root))
    return sorted(p for p in found if not any(n.startswith(".") for n in p.relative_to(folder).parts))


def _glob_files(pattern: str, *, recursive: bool) -> list[Path]:
    """The files a glob matches; a recursive one (``**`` with -r) walks as a folder input does,
    from the part of the pattern before its first wildcard."""
    if not (recursive and "**" in pattern):
        return sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if any(ch in part for ch in "*?["))
    return _walk(Path(*parts[:fixed]) if fixed else Path(), "/".join(parts[fixed:]))


def names_one_image(output: str | None, *, is_dir: Callable[[str], bool] = os.path.isdir) -> bool:
    """Whether ``-o`` names an image or video file (not a folder); ``is_dir``: whether a
    path is a folder (another file system's, for a URL)."""
    named = format_suffix(output) in FORMATS or is_video(output) if output else False
    return named and not is_dir(output)


def output_path(job: Job, naming: OutputNaming, *, single_file: bool) -> Path:
    """Where a job's result goes: ``-o FILE`` for one input, else ``OUT/<rel stem><suffix>.<ext>``
    (beside the input when no ``-o`` is given)."""
    output = naming.output
    if single_file and names_one_image(output):
        return Path(output)
    folder = Path(output) if output else job.source.parent
    relative = job.relative if output else Path(job.source.name)
    return folder / output_name(relative, naming, dicom=lambda: has_dicom_mark(job.source))


def output_name(relative: PurePath, naming: OutputNaming, *, dicom: Callable[[], bool]) -> PurePath:
    """The output's path under its folder for an input at ``relative`` under its own (its
    name, or its path under a scanned folder); ``dicom``: whether the input is a DICOM file,
    asked only of a name without a suffix superres reads."""
    extension = f".{naming.ext.lstrip('.')}" if naming.ext else relative.suffix
    if format_suffix(relative) == ".nii.gz":  # NAME.nii.gz: NAME_x2.nii.gz
        relative = relative.with_suffix("")
        extension = extension if naming.ext else ".nii.gz"
    stem = relative.stem
    if extension.lower() not in READ_SUFFIXES:  # a DICOM file without .dcm (as scanners write them)
        extension = ".dcm" if dicom() else ".png"
        if format_suffix(relative) not in READ_SUFFIXES:  # IM0001, 1.2.840...320: the whole name is the stem
            stem = relative.name
    ome = stem.lower().endswith(".ome")  # NAME.ome.tif: OME-TIFF
    if ome:  # NAME_x4.ome.tif, which OME readers recognise; NAME_x4.png for another format
        stem = stem[:-4]
    ome_part = ".ome" if ome and extension.lower() in (".tif", ".tiff") else ""
    return relative.parent / f"{stem}{naming.suffix}{ome_part}{extension}"


def suffix_problem(naming: OutputNaming) -> SuperresError | None:
    """Why ``--suffix`` cannot be used: it holds a path."""
    if any(mark in naming.suffix for mark in ("/", os.sep, "\0")) or ".." in naming.suffix:
        message = "--suffix must not hold a path separator or '..': it is added to file names"
        return SuperresError(message, repr(naming.suffix))
    return None


def plan_batch(
    inputs: Inputs, naming: OutputNaming, *, skip_existing: bool = False, overwrite: bool = False
) -> BatchPlan:
    """The jobs to run, each with its output path, and what was left out (see the module
    docstring). The first input keeps a name two inputs would write (``photo.jpg`` and
    ``photo.png`` both give ``photo_x4.png`` with ``--ext png``), so no result overwrites
    another. ``-o`` naming one image for several inputs, and a suffix that is a path, are
    the plan's ``problem``."""
    problem = suffix_problem(naming)
    if problem is not None:
        return BatchPlan([], problem=problem)
    jobs, earlier = _leave_out_earlier_results(inputs, naming)
    left_out = [job.source for job in earlier]
    single_file = len(jobs) == 1 and not inputs.missing
    if not single_file and names_one_image(naming.output):
        count = len(jobs) + len(inputs.missing)
        message = f"-o names one image, but there are {count} inputs: give a folder"
        return BatchPlan([], left_out, problem=SuperresError(message, Path(naming.output)))
    owners: dict[Path, Path] = {}
    planned, clashes = [], []
    for job in jobs:
        target = output_path(job, naming, single_file=single_file)
        owner = owners.setdefault(target.resolve(), job.source)
        if owner is job.source:
            planned.append(PlannedJob(job.source, target))
        else:
            clashes.append(
                f"{job.source}: its output {target} is {owner}'s output too; nothing was written for it"
                " (use --suffix, --ext or another -o folder)"
            )
    skipped = [job.source for job in planned if skip_existing and job.target.exists()]
    planned = [job for job in planned if job.source not in skipped]
    sources = {job.source.resolve() for job in planned}
    planned = [_flagged(job, sources, overwrite=overwrite) for job in planned]
    return BatchPlan(planned, left_out, clashes, skipped)


def _flagged(job: PlannedJob, sources: set[Path], *, overwrite: bool) -> PlannedJob:
    """``job`` with its refusals: its target is an input, or a file (or link, or anything not
    a folder) superres did not write."""
    if job.target.resolve() in sources:
        return PlannedJob(job.source, job.target, overwrites_input=True)
    present = job.target.exists() or job.target.is_symlink()
    other = present and not overwrite and not written_by_superres(job.target)
    return PlannedJob(job.source, job.target, replaces_other=other)


def _leave_out_earlier_results(inputs: Inputs, naming: OutputNaming) -> tuple[list[Job], list[Job]]:
    """Jobs minus the files a folder or glob found that are this run's own outputs for other
    inputs (results of an earlier run in place: rerunning must not upscale them again), and
    those left out. A file named on the command line always stays an input."""
    jobs = inputs.jobs
    single_file = len(jobs) == 1 and not inputs.missing
    targets = {output_path(job, naming, single_file=single_file).resolve() for job in jobs}
    earlier = [job for job in jobs if job.found and job.source.resolve() in targets]
    return [job for job in jobs if job not in earlier], earlier
