"""Named models that live outside the package (``superres.zoo.EXTERNAL``): where their files
are looked for, and ``superres fetch``, which downloads one (or copies one in) after checks.

The models folder is ``$SUPERRES_MODELS`` when set, else ``superres/models`` in the user
cache (``$XDG_CACHE_HOME``, else ``~/.cache``). A model's file there is ``NAME.safetensors``
or ``NAME.pth`` (what fetch writes) or one of its publisher's file names. Nothing is ever
downloaded except by :func:`download` (``superres fetch NAME``).

A file is kept only once checked: a download must have the SHA-256 of the file its URL
names, and every file, downloaded or copied, must load as the declared network, parameters,
scale and parameter count (so a converted copy, such as an fp16 safetensors file, installs
too). One that fails is removed: it is written beside its destination under a temporary
name (:mod:`superres.atomic`) and renamed only when it passed.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from superres.atomic import atomic_output, remove_stale_temp_files, written_by_superres
from superres.errors import SuperresError
from superres.zoo import ExternalModel

MODELS_ENV = "SUPERRES_MODELS"
INSTALL_SUFFIXES = (".safetensors", ".pth")  # the names fetch writes: NAME + suffix
CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class Installed:
    """A model file kept in the models folder: where, its size and SHA-256, and what it
    was found to be (a known file of the model, or a file that loads as it)."""

    path: Path
    bytes: int
    sha256: str
    known: bool


def models_dir() -> Path:
    """The folder named models are looked for in and fetched into (it may not exist yet)."""
    chosen = os.environ.get(MODELS_ENV)
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "superres" / "models"


def candidate_files(model: ExternalModel, folder: Path | None = None) -> list[Path]:
    """The files that are ``model`` when present, in the order they are looked for."""
    folder = models_dir() if folder is None else folder
    return [folder / f"{model.name}{suffix}" for suffix in INSTALL_SUFFIXES] + [
        folder / name for name in model.file_names
    ]


def installed_file(model: ExternalModel, folder: Path | None = None) -> Path | None:
    """``model``'s file in the models folder, or None when it is not on this machine."""
    return next((path for path in candidate_files(model, folder) if path.is_file()), None)


def missing_message(model: ExternalModel) -> str:
    """What to do when ``model`` is asked for and absent: the command that fetches it."""
    return (
        f"{model.name} is not on this machine: `superres fetch {model.name}` downloads it"
        f" ({model.url_bytes / 1e6:.0f} MB, {model.origin}, {model.licence}) into {models_dir()}"
    )


def architecture_problem(model: ExternalModel, path: Path) -> str | None:
    """Why the weights file ``path`` is not ``model`` (another network, other parameters,
    scale or parameter count, or unreadable), or None when it loads as ``model``."""
    import torch

    from superres.archs import build_network, count_parameters
    from superres.weights import fit_problem, identify_weights

    try:
        found = identify_weights(path)
    except SuperresError as exc:
        return exc.problem
    wanted = {**dict(model.arch_params), "scale": model.scale}
    params = {key: found.params.get(key) for key in wanted}
    if found.arch != model.arch or params != wanted:
        shown = ", ".join(f"{key}={value}" for key, value in found.params.items())
        declared = ", ".join(f"{key}={value}" for key, value in wanted.items())
        return f"it is {found.arch}({shown}), not {model.arch}({declared})"
    problem = fit_problem(found.arch, found.params, found.state_dict)
    if problem is not None:
        return f"its weights do not fit {model.arch}: {problem}"
    with torch.device("meta"):
        count = count_parameters(build_network(found.arch, **found.params))
    if count != model.parameters:
        return f"it has {count:,} parameters, not {model.parameters:,}"
    return None


def _checked(model: ExternalModel, path: Path, *, named: str, sha256: str, expected: str | None) -> bool:
    """Whether the written file ``path`` is a known file of ``model`` (else it loads as it);
    SuperresError naming ``named`` (the URL or the file copied) when it is neither or its
    SHA-256 is not ``expected``."""
    if expected is not None and sha256 != expected:
        raise SuperresError(
            f"SHA-256 {sha256} is not that of {model.name}'s file ({expected}): a corrupt or"
            " changed download, not kept",
            named,
        )
    problem = architecture_problem(model, path)
    if problem is not None:
        raise SuperresError(f"not {model.name}, not kept: {problem}", named)
    return sha256 in model.sha256s


def _install_path(model: ExternalModel, folder: Path | None, source_name: str) -> Path:
    folder = models_dir() if folder is None else folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SuperresError(f"cannot create the models folder ({exc.strerror})", folder) from None
    remove_stale_temp_files(folder)  # those of an interrupted fetch
    suffix = ".safetensors" if source_name.lower().endswith(".safetensors") else ".pth"
    return folder / f"{model.name}{suffix}"


def _drop_older(model: ExternalModel, kept: Path) -> None:
    """Remove the other file fetch wrote for ``model`` (NAME.pth after NAME.safetensors), so
    the one just checked is the one found; files superres did not write stay."""
    for other in candidate_files(model, kept.parent)[: len(INSTALL_SUFFIXES)]:
        if other != kept and other.is_file() and written_by_superres(other):
            other.unlink()


def _stream(source: BinaryIO, target: Path, *, limit: int, on_chunk: Callable[[int], None]) -> str:
    """Copy ``source`` into ``target``; its SHA-256. SuperresError past ``limit`` bytes."""
    digest, written = hashlib.sha256(), 0
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise SuperresError(f"larger than the {limit:,} bytes expected, not kept")
            digest.update(chunk)
            out.write(chunk)
            on_chunk(len(chunk))
    return digest.hexdigest()


def install_from(model: ExternalModel, source: Path, *, folder: Path | None = None) -> Installed:
    """Copy the local file ``source`` into the models folder as ``model``, checked first."""
    if not source.is_file():
        raise SuperresError("no such file", source)
    target = _install_path(model, folder, source.name)
    if target.exists() and target.samefile(source):
        raise SuperresError(f"is already {model.name}'s file in the models folder", source)
    size = source.stat().st_size
    with atomic_output(target) as tmp:
        with open(source, "rb") as stream:
            sha256 = _stream(stream, tmp, limit=size, on_chunk=lambda _: None)
        known = _checked(model, tmp, named=str(source), sha256=sha256, expected=None)
    _drop_older(model, target)
    return Installed(target, size, sha256, known)


def download(model: ExternalModel, *, folder: Path | None = None, progress: bool = False) -> Installed:
    """Download ``model`` from its URL into the models folder (streamed; a progress bar with
    ``progress``), checked first: its SHA-256 must be the declared one of the URL's file."""
    from tqdm import tqdm

    target = _install_path(model, folder, urllib.parse.urlparse(model.url).path)
    limit = model.url_bytes + model.url_bytes // 10 + CHUNK
    try:
        with (
            urllib.request.urlopen(model.url, timeout=TIMEOUT_S) as response,
            atomic_output(target) as tmp,
            tqdm(total=model.url_bytes, unit="B", unit_scale=True, disable=not progress) as bar,
        ):
            sha256 = _stream(response, tmp, limit=limit, on_chunk=bar.update)
            size = tmp.stat().st_size
            expected = model.sha256s[0] if model.sha256s else None
            known = _checked(model, tmp, named=model.url, sha256=sha256, expected=expected)
    except SuperresError as exc:
        raise SuperresError(exc.problem, exc.path or model.url) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise SuperresError(f"download failed ({reason}), nothing kept", model.url) from None
    _drop_older(model, target)
    return Installed(target, size, sha256, known)
