"""``superres inspect FILE``: what a weights file is, without running it."""

from __future__ import annotations

import argparse

from superres.cli.common import report_error
from superres.errors import SuperresError


def add_parser(commands: argparse._SubParsersAction) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="say what a weights file is (network, parameters, scale, card) without running it",
        description="Read a weights file (.pth, .pt, .ckpt, .pth.tar, .safetensors) as plain tensors and"
        " say which network it is, with its parameters, scale, channels, parameter count, stored"
        " precision, model card and what proves the network; nothing is run.",
    )
    inspect.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="weights files, or names of models fetched with `superres fetch`",
    )
    inspect.add_argument(
        "--format", choices=("text", "json"), default="text", help="text, or one JSON line per file"
    )
    inspect.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from superres.weights_info import format_weights_info

    failed = 0
    for number, path in enumerate(args.files):
        try:
            info = _info(path)
        except SuperresError as exc:
            report_error(exc)
            failed += 1
            continue
        if number and args.format == "text":
            print()
        print(format_weights_info(info, as_json=args.format == "json"))
    return 2 if failed else 0


def _info(path_or_name: str):
    """What ``path_or_name`` is: a weights file, or a named model from outside the package
    (its file in the models folder, with the declaration's card where the file has none)."""
    import dataclasses
    from pathlib import Path

    from superres import external, zoo
    from superres.weights_info import weights_info

    declared = zoo.external_model(path_or_name)
    if declared is None or Path(path_or_name).exists():
        return weights_info(path_or_name)
    found = external.installed_file(declared)
    if found is None:
        raise SuperresError(external.missing_message(declared))
    info = weights_info(found)
    return dataclasses.replace(info, card={**declared.card(), **info.card})
