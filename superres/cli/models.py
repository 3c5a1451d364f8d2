"""``superres models``: the networks and the shipped weights, with their cards' scores."""

from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list networks and shipped weights")
    models.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from superres.archs import build_network, count_parameters, specs
    from superres.models import default_model_name, shipped_weights
    from superres.weights import read_metadata

    shipped = {name: read_metadata(path) for name, path in shipped_weights().items()}
    print(f"{'network':<10} {'scales':<16} {'in/out':<7} {'params (x4)':>11}  shipped weights  description")
    for name, entry in specs().items():
        network = build_network(name, scale=4)
        weights = [n for n, meta in shipped.items() if meta.get("arch") == name]
        weights_text = "(none needed)" if name == "bicubic" else ", ".join(weights) or "-"
        scales = ",".join(str(s) for s in entry.builder.supported_scales)
        channels = f"{network.in_channels}/{network.out_channels}"
        print(
            f"{name:<10} {scales:<16} {channels:<7} {count_parameters(network):>11,}  {weights_text:<15}  "
            f"{entry.summary}"
        )
    print()
    print(shipped_table(shipped))
    print()
    print("default model: " + ", ".join(f"x{s}: {default_model_name(s)}" for s in (2, 3, 4)))
    print("weights files work too (-m PATH): RRDBNet/ESRGAN, SRVGGNetCompact, EDSR, IMDN and superres files")
    return 0


def _card_score(scores: dict, set_name: str, metric: str, digits: int) -> str:
    value = scores.get(set_name, {}).get(metric)
    return "-" if value is None else f"{value:.{digits}f}"


def shipped_table(shipped: dict[str, dict]) -> str:
    """Shipped models (name -> file metadata) with the test-set scores from their cards."""
    sets = ("Set5", "Set14", "BSD100")
    width = max([len("shipped model"), *map(len, shipped)])
    lines = [
        f"{'shipped model':<{width}} {'kind':<5} {'scale':<5} {'network':<8} {'params':>8}  "
        + "  ".join(f"{s + ' PSNR':>11}" for s in sets)
        + f"  {'BSD100 NIQE':>11}  trained"
    ]
    for name, meta in shipped.items():
        card = meta.get("card", {})
        scores = card.get("eval", {}).get("sets") or card.get("metrics", {})
        training = card.get("training", {})
        trained = f"{training.get('wall_time_s', 0) / 60:.0f} min, {training.get('hardware', '?')}"
        lines.append(
            f"{name:<{width}} {card.get('kind', '?'):<5} x{card.get('scale', '?'):<4} "
            f"{card.get('arch', '?'):<8} "
            f"{card.get('parameters', 0):>8,}  "
            + "  ".join(f"{_card_score(scores, s, 'psnr', 2):>11}" for s in sets)
            + f"  {_card_score(scores, 'BSD100', 'niqe', 3):>11}  {trained}"
        )
    return "\n".join(lines)
