"""Ship a third-party model: score a publisher's weights file on the test sets and write it
into the package with a card naming its origin and licence.

Usage: python scripts/ship_third_party.py NAME [--shared ../shared]

NAME is one of ``THIRD_PARTY`` below: where the file came from (repository, path, commit,
SHA-256), its licence and the licence text that ships beside it in
superres/pretrained/licenses/. The file is read from ../shared/weights, checked against its
SHA-256, scored with the published protocol (``superres eval``: MATLAB-bicubic LR, Y channel,
border = scale, gray images as themselves) on Set5, Set14 and BSD100, and written atomically
to superres/pretrained/NAME.safetensors: the same tensors, in superres' file layout, with
the card. Only licences that allow shipping (Apache-2.0, MIT, BSD, CC0) are accepted.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from release_model import eval_table

from superres.errors import SuperresError
from superres.models import load_model
from superres.weights import save_network
from superres.zoo import PRETRAINED_DIR, SHIPPABLE_LICENCES

ROOT = Path(__file__).resolve().parents[1]
RLFN = "https://github.com/bytedance/RLFN"
RLFN_COMMIT = "bccfde91bf8b2de80789ec033a029e6f2a932330"


@dataclass(frozen=True)
class Origin:
    """Where a third-party file comes from; it goes into the card as it is."""

    source: str  # the publisher's repository
    file: str  # the file's path there
    commit: str
    sha256: str
    licence: str
    licence_file: str  # relative to superres/pretrained/
    paper: str
    changes: str = "none to the weights: the same tensors stored as safetensors in superres' layout"


@dataclass(frozen=True)
class ThirdParty:
    shared_file: str  # relative to ../shared/weights
    description: str
    origin: Origin


THIRD_PARTY = {
    "rlfn-s-x4": ThirdParty(
        "rlfn/rlfn_s_x4.pth",
        "x4; RLFN-S (48 channels, 6 blocks), its publishers' weights as released",
        Origin(
            RLFN,
            "model_zoo/rlfn_s_x4.pth",
            RLFN_COMMIT,
            "f769c5a88433786b2db0c2b24da6ca6c92a24c62344b9354a390f8a74388e89d",
            "Apache-2.0",
            "licenses/RLFN-Apache-2.0.txt",
            "Kong et al., Residual Local Feature Network for Efficient Super-Resolution, CVPRW 2022",
        ),
    ),
    "rlfn-s-x2": ThirdParty(
        "rlfn/rlfn_s_x2.pth",
        "x2; RLFN-S (48 channels, 6 blocks), its publishers' weights as released",
        Origin(
            RLFN,
            "model_zoo/rlfn_s_x2.pth",
            RLFN_COMMIT,
            "f5175f499f869c1b884c2552a1bcd6abd07ab352e3d8c8c9abe31b1deb60fe45",
            "Apache-2.0",
            "licenses/RLFN-Apache-2.0.txt",
            "Kong et al., Residual Local Feature Network for Efficient Super-Resolution, CVPRW 2022",
        ),
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(THIRD_PARTY))
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    try:
        ship(args.name, args.shared)
    except SuperresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def ship(name: str, shared: Path) -> None:
    entry = THIRD_PARTY[name]
    origin = entry.origin
    if origin.licence not in SHIPPABLE_LICENCES:
        raise SuperresError(f"{name}: licence {origin.licence} does not allow shipping")
    if not (PRETRAINED_DIR / origin.licence_file).is_file():
        raise SuperresError(f"{name}: licence text {origin.licence_file} is missing")
    source = shared / "weights" / entry.shared_file
    if hashlib.sha256(source.read_bytes()).hexdigest() != origin.sha256:
        raise SuperresError("not the publisher's file (SHA-256 differs)", source)
    model = load_model(source, precision="fp32")  # fp32: the same scores anywhere
    card = {
        "name": name,
        "kind": "psnr",
        "scale": model.scale,
        "description": entry.description,
        "origin": asdict(origin),
        "parameters": sum(p.numel() for p in model.network.parameters()),
    }
    card["eval"] = eval_table(model, name, shared)
    out = PRETRAINED_DIR / f"{name}.safetensors"
    save_network(out, model.network, model.arch, model.arch_params, card)
    print(f"wrote {out.relative_to(ROOT)} (x{model.scale}, {model.arch})")


if __name__ == "__main__":
    sys.exit(main())
