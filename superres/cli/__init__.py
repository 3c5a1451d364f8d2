"""The ``superres`` command line: one module per command, the shared options in
:mod:`superres.cli.common`.

Exit status: 0 all good; 1 some images failed (listed at the end); 2 bad usage or model.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from superres.cli import eval as eval_command
from superres.cli import export, models, train, upscale

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="superres", description="Deep-learning image super-resolution.")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (upscale, eval_command, train, export, models):
        command.add_parser(commands)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _format_warning
    try:
        return int(args.func(args))
    except OSError as exc:  # a folder that cannot be made, a disk that is full: one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
