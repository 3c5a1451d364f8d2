"""Choose the default strength of a model for real photos on the validation set: Set14
PSNR of the model blended with the shipped model it was fine-tuned from
(``superres.models.blended``), for each strength, on each degraded LR of
``benchmarks/real_photo.py`` and on clean LR. The chosen strength has the highest mean over
the degraded LR (what the model is for); BSD100, the test set, plays no part.

Usage: python benchmarks/strength.py MODEL [--strengths 0.5 0.6 ...] [--shared ../shared]
Writes benchmarks/STRENGTH_<NAME>.md; release the model with that strength
(``python scripts/release_model.py runs/MODEL/MODEL.safetensors --strength S``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from report import REAL_PHOTO_DEGRADATIONS, markdown_table, write_report, written_by

from superres.evaluate import EvalOptions, LRDegradation, evaluate_folder
from superres.models import load_model

ROOT = Path(__file__).resolve().parents[1]
VALIDATION_SET = "Set14"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", help="a model fine-tuned from a shipped one: its name (real-photo-x4) or a run's file"
    )
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    started = time.perf_counter()
    folder = args.shared / "data/test" / VALIDATION_SET
    rows, means = [], {}
    for strength in args.strengths:
        model = load_model(args.model, precision="fp32", strength=strength)
        scores = [
            evaluate_folder(model, folder, EvalOptions(("psnr",), degradation=d)).mean("psnr")
            for d in REAL_PHOTO_DEGRADATIONS
        ]
        degraded = [s for s, d in zip(scores, REAL_PHOTO_DEGRADATIONS, strict=True) if d != LRDegradation()]
        means[strength] = statistics.mean(degraded)
        rows.append([f"{strength:g}", *(f"{s:.2f}" for s in scores), f"{means[strength]:.3f}"])
        print(rows[-1], file=sys.stderr)
    best = max(means, key=means.get)
    label = Path(args.model).stem
    minutes = (time.perf_counter() - started) / 60
    header = [
        "strength",
        *(d.describe().removeprefix("LR + ") for d in REAL_PHOTO_DEGRADATIONS),
        "mean (degraded)",
    ]
    lines = [
        f"# {label}: strength on {VALIDATION_SET} (PSNR, dB)",
        "",
        written_by(f"strength.py {args.model}", minutes) + " Each cell: `superres eval -m"
        f" {args.model} --strength S --data ../shared/data/test/{VALIDATION_SET}` with the row's"
        " strength and the column's `--lr-noise` / `--lr-jpeg`. Strength 0 is the model it was"
        " fine-tuned from, 1 the fine-tune itself.",
        "",
        *markdown_table(header, rows),
        "",
        f"Highest mean over the degraded LR: strength {best:g}.",
        "",
    ]
    write_report(args.out / f"STRENGTH_{label}.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
