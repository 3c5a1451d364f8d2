"""The ``superres`` command line: one module per command, the shared options in
:mod:`superres.cli.common`.

Exit status: 0 all good; 1 some images failed (listed at the end) or the command failed;
2 bad usage or model; 141 (as for SIGPIPE) when the reader of its output went away. Any
exception ends as one ``error:`` line; ``--debug`` or SUPERRES_DEBUG=1 shows its traceback
too.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from superres.cli import eval as eval_command
from superres.cli import export, fetch, inspect_file, models, serve, train, upscale
from superres.cli.common import debugging, describe_unexpected, report_error

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="superres", description="Deep-learning image super-resolution.")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an unexpected error (as does the environment variable SUPERRES_DEBUG=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (upscale, eval_command, train, export, models, inspect_file, fetch, serve):
        command.add_parser(commands)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _format_warning
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, so a closed pipe is seen by the handler below
        return code
    except BrokenPipeError:  # `superres models | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 128 + signal.SIGPIPE
    except Exception as exc:  # the boundary: one line, no traceback (unless --debug)
        report_error(describe_unexpected(exc, debug=debugging(args)))
        return 1
