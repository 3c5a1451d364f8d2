"""``superres fetch NAME``: put a named model that does not ship inside the package (too big
for it) into the models folder, from its publisher's URL or a local copy (``--from``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from superres.cli.common import progress_shown, quiet_option, report_error
from superres.errors import SuperresError


def add_parser(commands: argparse._SubParsersAction) -> None:
    from superres.zoo import EXTERNAL

    names = ", ".join(m.name for m in EXTERNAL)
    fetch = commands.add_parser(
        "fetch",
        parents=[quiet_option("no progress bar")],
        help=f"download a named model that is too big to ship ({names})",
        description="Download a named model from its publisher into the models folder ($SUPERRES_MODELS,"
        " else ~/.cache/superres/models), or copy a local file of it there (--from), so that -m NAME"
        " loads it. A download must have the SHA-256 of the publisher's file; every file must load"
        " as the declared network, or it is not kept. Nothing else in superres downloads anything.",
    )
    fetch.add_argument("name", metavar="NAME", help=f"the model: {names}")
    fetch.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="FILE",
        help="install a copy of this local file instead of downloading (checked the same way)",
    )
    fetch.add_argument("--force", action="store_true", help="download again when the model is already here")
    fetch.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from superres import external, zoo

    model = zoo.external_model(args.name)
    if model is None:
        names = ", ".join(m.name for m in zoo.EXTERNAL)
        report_error(f"no model to fetch named {args.name!r} (models that do not ship: {names})")
        return 2
    present = external.installed_file(model)
    if present is not None and args.source is None and not args.force:
        print(f"{model.name} is already on this machine: {present} (--force downloads it again)")
        return 0
    try:
        if args.source is not None:
            installed = external.install_from(model, args.source)
        else:
            size = f"{model.url_bytes / 1e6:.0f} MB"
            print(f"downloading {model.name} ({size}, {model.licence}) from {model.url}", file=sys.stderr)
            installed = external.download(model, progress=progress_shown(args.quiet))
    except SuperresError as exc:
        report_error(exc)
        return 1
    what = "a known file of it" if installed.known else "not a file known by its SHA-256, but it loads as it"
    print(
        f"{model.name}: {installed.path} ({installed.bytes:,} bytes, SHA-256 {installed.sha256}: {what});"
        f" -m {model.name} loads it. {model.licence}, {model.origin}"
    )
    return 0
