"""Ship a trained model: score it on the test sets and write it into the package with the
eval table in its model card.

Usage: python scripts/release_model.py runs/NAME/NAME.safetensors [--shared ../shared] [--strength S]

Evaluates with the published protocol (``superres eval``: MATLAB-bicubic LR, Y channel,
border = scale, gray images as themselves) on Set5, Set14 and BSD100; GAN models also get
NIQE and grid strength (``superres.metrics.grid_strength``), models for real photos (kind
``real``) also Set14 and BSD100 with degraded LR (``superres eval --lr-noise/--lr-jpeg``).
The card gains ``eval`` (the tables and the commands that reproduce them) and ``recipe``;
the file is written atomically to superres/pretrained/NAME.safetensors. A model fine-tuned
from a third-party file keeps that file's ``origin`` (publisher, SHA-256, licence) in its
card, with what was changed. ``--strength S``
records S as the model's default strength (``superres.models.blended``: the fine-tune
blended with the shipped model it started from), the scores are of the model at S, and
the file keeps the fine-tune's own weights.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from superres.errors import SuperresError
from superres.evaluate import EvalOptions, LRDegradation, evaluate_folder
from superres.models import SRModel, blended, load_model
from superres.train.model_file import model_kind
from superres.train.pretrained import pretrained_path
from superres.train.recipe import load_recipe
from superres.weights import read_metadata, save_network
from superres.zoo import PRETRAINED_DIR

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set5", "Set14", "BSD100")
# Degraded LR that models of kind "real" are also scored on
DEGRADED = (LRDegradation(jpeg_quality=75), LRDegradation(noise_sigma=5, jpeg_quality=75))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help="the trained file a run exported")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--strength", type=float, help="default strength to record (0-1)")
    args = parser.parse_args()
    try:
        release(args.weights, args.shared, args.strength)
    except SuperresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def release(weights: Path, shared: Path, strength: float | None = None) -> None:
    trained = load_model(weights, precision="fp32", strength=1.0)  # fp32: the same scores anywhere
    card = dict(trained.card)
    if not card.get("name"):
        raise SuperresError("no model card (not a file superres train exported)", weights)
    name = card["name"]
    recipe = load_recipe(ROOT / f"recipes/{name}.yaml")
    card["kind"] = model_kind(recipe)  # the recipe decides: a stored card may say psnr for a real model
    card.pop("strength", None)
    if strength is not None and strength != 1:
        card["strength"] = strength
    model = blended(trained, strength, name) if "strength" in card else trained
    card["training"] = {
        **card["training"],
        "degradation": asdict(recipe.data.degradation) if recipe.data.degradation else None,
    }
    card["eval"] = eval_table(model, name, shared, gan=card["kind"] == "gan")
    if card["kind"] == "real":
        card["eval"]["degraded"] = [degraded_scores(model, name, shared, d) for d in DEGRADED]
    card["recipe"] = f"recipes/{name}.yaml"
    inherited = inherited_origin(recipe.network.pretrained)
    if inherited is not None:  # fine-tuned from a third-party file: its origin and licence carry over
        origin, steps = inherited
        changes = (
            f"fine-tuned by superres from {recipe.network.pretrained} with {card['recipe']}"
            f" ({card['training']['iterations']} iterations; the card's training says how)"
        )
        card["origin"] = {**origin, "changes": "; ".join([changes, *steps])}
    card["description"] = recipe.description  # the recipe's current text
    card["parameters"] = sum(p.numel() for p in model.network.parameters())  # counted afresh, never 0
    out = PRETRAINED_DIR / f"{name}.safetensors"
    save_network(out, trained.network, trained.arch, trained.arch_params, card)
    print(f"wrote {out.relative_to(ROOT)} (x{model.scale}, {card['kind']})")


def inherited_origin(pretrained: str) -> tuple[dict, list[str]] | None:
    """The third-party origin (publisher, file, licence) of the weights a recipe started
    from, followed through superres' own fine-tunes of them (the chain steps in weights/),
    and those steps as text; None for weights of ours."""
    seen, steps = set(), []
    while pretrained and pretrained not in seen:  # each chain step names the file it started from
        seen.add(pretrained)
        try:
            card = read_metadata(pretrained_path(pretrained)).get("card", {})
        except SuperresError:  # not a safetensors file: no card, no origin named
            return None
        if card.get("origin"):  # a fine-tune of ours shipped with the origin says what it changed
            return card["origin"], steps + ([card["origin"]["changes"]] if card.get("training") else [])
        start = (card.get("training") or {}).get("pretrained") or ""
        steps.append(f"{pretrained} was fine-tuned from {start} with {card.get('recipe') or 'its recipe'}")
        pretrained = start
    return None


def eval_table(model: SRModel, name: str, shared: Path, *, gan: bool = False) -> dict:
    """The card's ``eval``: Set5/Set14/BSD100 scores with the published protocol (GAN models
    also NIQE and grid strength) and the command that reproduces them."""
    metrics = ("psnr", "ssim", "niqe", "grid") if gan else ("psnr", "ssim")
    table = {}
    for set_name in SETS:
        result = evaluate_folder(
            model,
            shared / "data/test" / set_name,
            EvalOptions(metrics, niqe_params=shared / "data/niqe/niqe_pris_params.npz"),
        )
        table[set_name] = {m: round(result.mean(m), 4) for m in metrics}
        print(set_name, table[set_name], file=sys.stderr)
    data = " ".join(f"../shared/data/test/{s}" for s in SETS)
    return {
        "protocol": "MATLAB-bicubic LR, Y channel, border = scale cropped, gray images as themselves",
        "command": f"superres eval -m {name} --data {data} --metrics {','.join(metrics)}",
        "sets": table,
    }


def degraded_scores(model: SRModel, name: str, shared: Path, degradation: LRDegradation) -> dict:
    """PSNR / SSIM on Set14 and BSD100 from degraded LR, with the command that reproduces them."""
    sets = {}
    for set_name in SETS[1:]:
        result = evaluate_folder(model, shared / "data/test" / set_name, EvalOptions(degradation=degradation))
        sets[set_name] = {m: round(result.mean(m), 4) for m in ("psnr", "ssim")}
        print(set_name, degradation.describe(), sets[set_name], file=sys.stderr)
    data = " ".join(f"../shared/data/test/{s}" for s in SETS[1:])
    return {
        "lr": degradation.describe(),
        "command": f"superres eval -m {name} --data {data} {degradation.eval_options()}",
        "sets": sets,
    }


if __name__ == "__main__":
    sys.exit(main())
