"""``superres models``: the networks, the shipped weights with their cards' scores, and the
named models that live outside the package (where their file is, or how to fetch it)."""

from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list networks and shipped weights")
    models.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from superres.archs import specs
    from superres.models import default_model_name, shipped_weights
    from superres.weights import read_metadata

    print(networks_table())
    print()
    shipped = {name: read_metadata(path) for name, path in shipped_weights().items()}
    print(shipped_table(shipped))
    print()
    print(external_table())
    print()
    print("default model: " + ", ".join(f"x{s}: {default_model_name(s)}" for s in (2, 3, 4)))
    readable = sum(1 for s in specs().values() if s.detect is not None)
    print(
        f"weights files of the {readable} networks marked 'yes' load by their keys alone (-m PATH);"
        " `superres inspect FILE` says what a file is"
    )
    return 0


def networks_table() -> str:
    """Every network: its scales, whether third-party files of it load by their keys, its
    description and what proves it runs as its publisher's code does."""
    from superres.archs import specs

    declared = specs()
    width = max(len("network"), *map(len, declared))
    lines = [f"{'network':<{width}} {'scales':<16} {'files':<5}  description"]
    for name, entry in declared.items():
        scales = ",".join(str(s) for s in entry.builder.supported_scales)
        files = "yes" if entry.detect is not None else "-"
        lines.append(f"{name:<{width}} {scales:<16} {files:<5}  {entry.summary}")
        if entry.proof:
            lines.append(f"{'':<{width}} {'':<16} {'':<5}  proven by: {entry.proof}")
    return "\n".join(lines)


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
        training, origin = card.get("training", {}), card.get("origin")
        trained = f"{training.get('wall_time_s', 0) / 60:.0f} min, {training.get('hardware', '?')}"
        if origin:
            source = origin["source"].removeprefix("https://")
            if training:  # fine-tuned here from a third-party file
                trained += f", from {origin['licence']} weights: {source}"
            else:  # a third-party model, shipped as its publisher released it
                trained = f"publisher's weights, {origin['licence']}: {source}"
        lines.append(
            f"{name:<{width}} {card.get('kind', '?'):<5} x{card.get('scale', '?'):<4} "
            f"{card.get('arch') or meta.get('arch', '?'):<8} "
            f"{card.get('parameters', 0):>8,}  "
            + "  ".join(f"{_card_score(scores, s, 'psnr', 2):>11}" for s in sets)
            + f"  {_card_score(scores, 'BSD100', 'niqe', 3):>11}  {trained}"
        )
    return "\n".join(lines)


def external_table() -> str:
    """The named models that do not ship (superres.zoo.EXTERNAL): what each is, and where its
    file is on this machine or the command that fetches it."""
    from superres.external import installed_file
    from superres.zoo import EXTERNAL

    width = max(len("model outside the package"), *(len(m.name) for m in EXTERNAL))
    lines = [
        f"{'model outside the package':<{width}} {'kind':<5} {'scale':<5} {'network':<8} {'params':>10}  file"
    ]
    for model in EXTERNAL:
        path = installed_file(model)
        where = str(path) if path else f"not on this machine: superres fetch {model.name}"
        what = f"{model.kind:<5} x{model.scale:<4} {model.arch:<8} {model.parameters:>10,}"
        lines.append(f"{model.name:<{width}} {what}  {where}")
        lines.append(f"{'':<{width}} {model.summary}; {model.licence}, {model.origin}")
    return "\n".join(lines)
