"""``superres train``: train a model from a YAML recipe."""

from __future__ import annotations

import argparse
import sys

from superres.cli.common import compute_options, positive, progress_shown, quiet_option, report_error
from superres.errors import SuperresError


def add_parser(commands: argparse._SubParsersAction) -> None:
    shared = [compute_options(device_help="cpu, cuda or cuda:N"), quiet_option("no progress bar")]
    tr = commands.add_parser(
        "train", parents=shared, help="train a model from a YAML recipe", description="Train from a recipe."
    )
    tr.add_argument("recipe", help="recipe YAML file (see recipes/)")
    tr.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    tr.add_argument(
        "--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="override recipe entries"
    )
    tr.add_argument(
        "--stop-after", type=positive(int), metavar="N", help="checkpoint and stop at iteration N"
    )
    tr.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from superres.train.recipe import load_recipe
    from superres.train.trainer import train

    try:
        recipe = load_recipe(args.recipe, args.set)
    except SuperresError as exc:  # a bad recipe is bad usage
        report_error(exc)
        return 2
    try:
        path, card = train(recipe, args.resume, args.device, progress_shown(args.quiet), args.stop_after)
    except SuperresError as exc:
        report_error(exc)
        return 1
    if path is None and card.get("interrupted"):
        where = f"stopped at iteration {card['stopped_at']}, checkpoint {card['checkpoint']}"
        print(f"{card['interrupted']}: {where}; continue with --resume", file=sys.stderr)
        return 128 + card["signal"]
    if path is None:
        print(f"stopped at iteration {card['stopped_at']}; continue with --resume")
        return 0
    metrics = ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in card["metrics"].items())
    print(f"wrote {path}" + (f" ({metrics})" if metrics else ""))
    return 0
