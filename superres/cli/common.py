"""What the commands share: argument types, the options several commands take (as argparse
parent parsers), and loading the model they name. Importing this module does not import torch."""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from superres.errors import SuperresError

if TYPE_CHECKING:  # not at run time: `superres --help` must not import torch
    from superres.models import SRModel

PRECISION_CHOICES = ["auto", "fp32", "bf16", "fp16"]  # superres.models.PRECISIONS (a test keeps them equal)


def one_line(text: object) -> str:
    """``text`` with control characters (a newline in a file name) escaped as repr does, so a
    message stays one line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


def report_error(message: object) -> None:
    """``error: MESSAGE`` on stderr, one line."""
    print(f"error: {one_line(message)}", file=sys.stderr)


def debugging(args: argparse.Namespace | None = None) -> bool:
    """Whether tracebacks are shown: ``superres --debug`` or SUPERRES_DEBUG=1."""
    return bool(getattr(args, "debug", False)) or os.environ.get("SUPERRES_DEBUG", "") not in ("", "0")


def describe_unexpected(exc: BaseException, *, debug: bool) -> str:
    """One line for an exception that is not a :class:`SuperresError` (a bug, or a library's
    refusal); with ``debug`` its traceback is printed first."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, SuperresError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    first = (str(exc).splitlines() or [""])[0][:200]
    hint = "" if debug else " (--debug or SUPERRES_DEBUG=1 shows the traceback)"
    return f"{type(exc).__name__}: {first}{hint}" if first else f"{type(exc).__name__}{hint}"


def failure_line(exc: BaseException, subject: object, *, debug: bool) -> str:
    """One escaped line for ``exc`` raised while working on ``subject`` (a file, a model): a
    SuperresError names its own file, anything else is prefixed with ``subject``."""
    message = describe_unexpected(exc, debug=debug)
    return one_line(message if isinstance(exc, SuperresError) else f"{subject}: {message}")


def progress_shown(quiet: bool) -> bool:
    """Whether progress bars are drawn: not with -q, nor into a log (stderr not a terminal),
    where their cursor codes would be noise."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not quiet and bool(isatty and isatty())


def _number(kind: type, text: str) -> float | int:
    value = kind(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive(kind: type) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = _number(kind, text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def non_negative(kind: type) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = _number(kind, text)
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
        return value

    return parse


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:  # NaN and infinities too
        raise argparse.ArgumentTypeError(f"must be 0 to 1, got {text}")
    return value


def quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be 1 to 100, got {text}")
    return value


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def model_options(*, model_help: str, scale_help: str) -> argparse.ArgumentParser:
    """-m/--model, -s/--scale and --strength: the model a command loads."""
    parser = _parent()
    parser.add_argument("-m", "--model", default="default", help=model_help)
    parser.add_argument("-s", "--scale", type=positive(int), help=scale_help)
    parser.add_argument(
        "--strength",
        type=fraction,
        help="for a model fine-tuned from another shipped one (real-photo, photo-gan): how much of"
        " the fine-tune, 0-1 (0: the model it started from; default: its card's, else 1)",
    )
    return parser


def tiling_options(
    *, tile_default: int | None, tile_help: str, overlap_help: str | None, tta_help: str
) -> argparse.ArgumentParser:
    """--tile, --tile-overlap and --tta: how the network runs over an image."""
    parser = _parent()
    parser.add_argument("--tile", type=non_negative(int), default=tile_default, help=tile_help)
    parser.add_argument("--tile-overlap", type=non_negative(int), default=16, help=overlap_help)
    parser.add_argument("--tta", action="store_true", help=tta_help)
    return parser


def compute_options(
    *, device_help: str | None, precision_default: str | None = None, precision_help: str | None = None
) -> argparse.ArgumentParser:
    """--device, and --precision unless ``precision_default`` is None."""
    parser = _parent()
    parser.add_argument("--device", default="cpu", help=device_help)
    if precision_default is not None:
        parser.add_argument(
            "--precision", default=precision_default, choices=PRECISION_CHOICES, help=precision_help
        )
    return parser


def quiet_option(help_text: str = "no progress bars") -> argparse.ArgumentParser:
    parser = _parent()
    parser.add_argument("-q", "--quiet", action="store_true", help=help_text)
    return parser


def load_model_or_report(args: argparse.Namespace) -> SRModel | None:
    """The model that -m/-s/--device/--precision/--strength name, or None after printing why
    not (any exception: a weights file that breaks the loader is an unusable model too)."""
    from superres.models import load_model

    try:
        return load_model(
            args.model, scale=args.scale, device=args.device, precision=args.precision, strength=args.strength
        )
    except Exception as exc:  # the boundary: one line, exit 2
        report_error(failure_line(exc, args.model, debug=debugging(args)))
        return None
