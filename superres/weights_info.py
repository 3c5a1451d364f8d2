"""What a weights file is, told without running it (``superres inspect``): the network and
its parameters as read from the keys (or a superres file's metadata), scale, channels,
parameter count, stored precision, the model card, and whether the weights fit."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from superres.archs import build_network, count_parameters, spec
from superres.weights import FORMAT_TAG, fit_problem, identify_weights


@dataclass(frozen=True)
class WeightsInfo:
    """One weights file, described. ``fits`` is None when the weights load into the network
    the file names or its keys match, else what keeps them from it."""

    path: str
    bytes: int
    container: str
    arch: str
    summary: str
    params: dict[str, Any]
    scale: int
    in_channels: int
    out_channels: int
    parameters: int
    stored: dict[str, int]  # tensor count by stored dtype
    proof: str
    fits: str | None
    size_multiple: int = 1
    card: dict[str, Any] = field(default_factory=dict)


def _container(path: Path, metadata: dict[str, str]) -> str:
    if metadata.get("format") == FORMAT_TAG:
        return "superres file (safetensors with the network and model card in its metadata)"
    if path.suffix.lower() == ".safetensors":
        return "safetensors"
    return "PyTorch file (read as plain tensors, weights_only: no code runs)"


def weights_info(path: str | Path) -> WeightsInfo:
    """Describe the weights file ``path``; SuperresError when it is unreadable or of no known
    network. The network is built on the meta device: nothing is allocated or run."""
    path = Path(path)
    found = identify_weights(path)
    with torch.device("meta"):
        network = build_network(found.arch, **found.params)
    declared = spec(found.arch)
    stored = Counter(str(t.dtype).removeprefix("torch.") for t in found.state_dict.values() if t.dim() > 0)
    return WeightsInfo(
        path=str(path),
        bytes=path.stat().st_size,
        container=_container(path, found.metadata),
        arch=found.arch,
        summary=declared.summary,
        params=found.params,
        scale=int(network.scale),
        in_channels=int(network.in_channels),
        out_channels=int(network.out_channels),
        parameters=count_parameters(network),
        stored=dict(stored.most_common()),
        proof=declared.proof,
        fits=fit_problem(found.arch, found.params, found.state_dict),
        size_multiple=int(getattr(network, "size_multiple", 1)),
        card=found.card,
    )


def format_weights_info(info: WeightsInfo, *, as_json: bool = False) -> str:
    """``info`` as aligned text lines, or as one JSON object."""
    if as_json:
        return json.dumps(asdict(info), sort_keys=True)
    stored = ", ".join(f"{count} {dtype}" for dtype, count in info.stored.items())
    rows = [
        ("file", f"{info.path if info.path.isprintable() else repr(info.path)} ({info.bytes:,} bytes)"),
        ("container", info.container),
        ("network", f"{info.arch}: {info.summary}"),
        ("parameters", ", ".join(f"{k}={v}" for k, v in info.params.items()) or "-"),
        ("scale", f"x{info.scale}"),
        ("channels", f"{info.in_channels} in, {info.out_channels} out"),
        ("weights", f"{info.parameters:,} parameters, stored as {stored}"),
        ("loads", "yes" if info.fits is None else f"no: {info.fits}"),
    ]
    if info.size_multiple > 1:
        rows.append(("input size", f"padded to a multiple of {info.size_multiple} inside the network"))
    if info.proof:
        rows.append(("proven by", info.proof))
    card = info.card
    for key in ("name", "kind", "description", "licence", "license", "origin"):
        if card.get(key):
            rows.append((f"card {key}", _origin_line(card[key]) if key == "origin" else str(card[key])))
    scores = card.get("eval", {}).get("sets") or card.get("metrics", {})
    if isinstance(scores, dict) and scores:
        psnr = {name: s["psnr"] for name, s in scores.items() if isinstance(s, dict) and "psnr" in s}
        shown = [f"{name} {value:.2f} dB" for name, value in psnr.items()]
        if shown:
            rows.append(("card PSNR", ", ".join(shown)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _origin_line(origin: Any) -> str:
    """A third-party model's origin (scripts/ship_third_party.py) and what was changed, as
    one line."""
    if not isinstance(origin, dict) or not {"source", "file", "licence"} <= set(origin):
        return str(origin)
    commit = f" @ {str(origin['commit'])[:7]}" if origin.get("commit") else ""
    text = f", text in superres/pretrained/{origin['licence_file']}" if origin.get("licence_file") else ""
    changes = f"; {origin['changes']}" if origin.get("changes") else ""
    return f"{origin['source']} {origin['file']}{commit}; {origin['licence']}{text}{changes}"
