"""Real third-party weight files against their published Set5/Set14/BSD100 PSNR (issue 26).

Each file in ../shared/weights with a published table is loaded by the file alone and scored
with the published protocol (``superres eval``: MATLAB-bicubic LR, Y-PSNR, crop = scale, in
fp32); Set14 as these papers scored it, its gray ``bridge.png`` replicated to RGB
(``--gray-as-rgb``). A row meets its paper when every set is within 0.03 dB. The files with
no published table (NTIRE entries, real-world models) are scored too, against bicubic. The
test suite checks Set5 of each file; this script, too long for the suite, checks the rest.

Usage: python benchmarks/published.py [--shared ../shared] [--threads 2]
Writes benchmarks/PUBLISHED.md.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set5", "Set14", "BSD100")
TOLERANCE = 0.03

# file under ../shared/weights -> its paper's (or repository's) Set5, Set14, BSD100 PSNR.
PUBLISHED = {
    "imdn/IMDN_x2.pth": (38.00, 33.63, 32.19),
    "imdn/IMDN_x3.pth": (34.36, 30.32, 29.09),
    "imdn/IMDN_x4.pth": (32.21, 28.58, 27.56),
    "rlfn/rlfn_x2.pth": (38.07, 33.72, 32.22),
    "rlfn/rlfn_s_x2.pth": (38.05, 33.68, 32.19),
    "rlfn/rlfn_x4.pth": (32.24, 28.62, 27.60),
    "rlfn/rlfn_s_x4.pth": (32.23, 28.61, 27.58),
    "pan/PANx2_DF2K.pth": (38.00, 33.59, 32.18),
    "pan/PANx3_DF2K.pth": (34.40, 30.36, 29.11),
    "pan/PANx4_DF2K.pth": (32.13, 28.61, 27.59),
    "dat/DAT_light_x4.pth": (32.57, 28.87, 27.74),
}
# Files without a published bicubic-protocol table.
UNPUBLISHED = (
    "dctlsa/X2.pt",
    "dctlsa/X4.pt",
    "ntire/team15_SAFMN.pth",
    "ntire/team34_craft.pth",
    "ntire/team38_span_ch28_slim.pth",
    "rfdn/RFDN_AIM.pth",
    "imdn/model_RTE.pth",
)


def score(shared: Path, relative: str) -> tuple[str, int, list[float], float]:
    """(network, scale, PSNR per set, seconds) of one file."""
    from superres.evaluate import EvalOptions, evaluate_folder
    from superres.models import load_model

    started = time.perf_counter()
    model = load_model(shared / "weights" / relative, precision="fp32")
    values = []
    for set_name in SETS:
        options = EvalOptions(metrics=("psnr",), gray_as_rgb=set_name == "Set14")
        values.append(evaluate_folder(model, shared / "data/test" / set_name, options).mean("psnr"))
    return model.arch, model.scale, values, time.perf_counter() - started


def main() -> None:
    import torch

    from superres.train.model_file import hardware_description

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/PUBLISHED.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        "# Real files against their published numbers",
        "",
        f"- date: {datetime.date.today().isoformat()}; {hardware_description(torch.device('cpu'))}",
        "- command: `python benchmarks/published.py`",
        "- Y-PSNR (dB), MATLAB-bicubic LR, crop = scale, fp32; Set14 with `--gray-as-rgb`",
        "",
        "| file | network | scale | Set5 | Set14 | BSD100 | published | met (within 0.03 dB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for relative in [*PUBLISHED, *UNPUBLISHED]:
        arch, scale, values, seconds = score(args.shared, relative)
        published = PUBLISHED.get(relative)
        if published:
            misses = [s for s, v, p in zip(SETS, values, published, strict=True) if abs(v - p) > TOLERANCE]
            met = "yes" if not misses else f"no: {', '.join(misses)}"
            shown = " / ".join(f"{p:.2f}" for p in published)
        else:
            met, shown = "-", "none"
        cells = " | ".join(f"{v:.2f}" for v in values)
        lines.append(f"| `{relative}` | {arch} | x{scale} | {cells} | {shown} | {met} |")
        print(lines[-1], f"({seconds:.0f} s)", flush=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
