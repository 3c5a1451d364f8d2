"""A model as an ONNX file, for runtimes without PyTorch (checked with ONNX Runtime).

The graph is the network alone: input ``lr``, float32 N x C x H x W in [0, 1] (RGB, or one
band for a gray network), output ``sr``, N x C x sH x sW, not clamped; batch, height and
width are dynamic. What ``superres upscale`` does around the network (tiling, the value
mapping of 16-bit data, alpha, the ``--outscale`` resize, rounding) is the caller's. The
file's metadata names the model, its network, scale and this layout, and holds its card.
Needs the ``[onnx]`` extra: onnx and onnxscript to export, onnxruntime to check the file.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from superres import __version__
from superres.atomic import atomic_output
from superres.errors import SuperresError
from superres.models import SRModel

OPSET = 18
CHECK_TOLERANCE = 1e-4  # largest difference from PyTorch's output allowed, on [0, 1] values
# ... plus this many times the network's own float32 rounding error (its float32 output's
# distance from its float64 one): networks that compute at 0..255 (SPAN) round by ~1e-4.
ROUNDING_ALLOWANCE = 4.0
_CHECK_SIZE = (27, 40)  # not the export's 32 x 32 sample, so the dynamic axes are exercised


class NotExportableError(SuperresError):
    """A network that cannot be written as ONNX at all (the command's usage error, exit 2)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    max_difference: float | None  # from PyTorch's output on a test input; None: not checked


def export_onnx(model: SRModel, path: str | Path, *, opset: int = OPSET, check: bool = True) -> ExportResult:
    """Write ``model``'s network to ``path`` as ONNX (atomically). With ``check``, and
    onnxruntime installed, run the file on a test input and refuse it (SuperresError) if its
    output differs from PyTorch's by more than CHECK_TOLERANCE. The exporter's own notes
    (warnings, logging, prints) are left alone: `superres export` holds them back."""
    path = Path(path)
    if model.arch == "bicubic":
        raise NotExportableError(
            "bicubic is a fixed resize, not a trained network: there is nothing to export"
        )
    reason = _refusal(model.arch)
    if reason:
        raise NotExportableError(f"{model.arch} cannot be exported to ONNX: {reason}")
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx.export needs it)
    except ImportError:
        raise SuperresError("ONNX export needs the onnx extra: pip install 'superres[onnx]'") from None
    network = copy.deepcopy(model.network).to("cpu", torch.float32).eval()  # the model may be in use
    sample = torch.rand(2, model.in_channels, 32, 32, generator=torch.Generator().manual_seed(0))
    dynamic = torch.export.Dim.DYNAMIC
    with atomic_output(path) as tmp:
        try:
            torch.onnx.export(
                network,
                (sample,),
                str(tmp),
                input_names=["lr"],
                output_names=["sr"],
                dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter's many error types; its message is pages long
            raise SuperresError(
                f"torch.onnx.export cannot export {model.arch}: {_reason(exc)}", path
            ) from None
        graph = onnx.load(str(tmp))
        graph.doc_string = f"superres {model.name}: x{model.scale} super-resolution ({model.arch})"
        for key, value in _metadata(model).items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))
        difference = _check(network, tmp, model.in_channels, path) if check else None
    return ExportResult(path, difference)


def _refusal(arch: str) -> str:
    """Why network ``arch`` cannot be exported (its spec's ``onnx_export``); empty if it can."""
    from superres.archs import spec

    try:
        return spec(arch).onnx_export
    except KeyError:  # not a registered network: let the exporter try
        return ""


def _metadata(model: SRModel) -> dict[str, str]:
    return {
        "superres.name": model.name,
        "superres.arch": model.arch,
        "superres.scale": str(model.scale),
        "superres.layout": (
            f"input lr: float32 N x {model.in_channels} x H x W in [0, 1]"
            f" ({'RGB' if model.in_channels == 3 else 'gray'}); output sr: float32 N x"
            f" {model.out_channels} x {model.scale}H x {model.scale}W, clamp to [0, 1]"
        ),
        "superres.version": __version__,
        "superres.card": json.dumps(model.card, sort_keys=True),
    }


def _check(network: torch.nn.Module, onnx_file: Path, in_channels: int, path: Path) -> float | None:
    """The largest difference between ``onnx_file``'s output and PyTorch's (None without
    onnxruntime); errors name ``path``, where the file is going."""
    try:
        import onnxruntime
    except ImportError:
        return None
    lr = torch.rand(2, in_channels, *_CHECK_SIZE, generator=torch.Generator().manual_seed(1))
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (sr,) = session.run(["sr"], {"lr": lr.numpy()})
    with torch.no_grad():
        expected = network(lr).numpy()
    if sr.shape != expected.shape:
        raise SuperresError(f"the ONNX file gives {sr.shape} where PyTorch gives {expected.shape}", path)
    difference = float(abs(sr - expected).max())
    if not difference <= CHECK_TOLERANCE:  # within the network's own rounding error?
        allowed = CHECK_TOLERANCE + ROUNDING_ALLOWANCE * _rounding_error(network, lr, expected)
        if not difference <= allowed:
            raise SuperresError(f"the ONNX file's output differs from PyTorch's by {difference:.2g}", path)
    return difference


def _rounding_error(network: torch.nn.Module, lr: torch.Tensor, expected: Any) -> float:
    """How far ``network``'s float32 output ``expected`` on ``lr`` is from its float64 one
    (0 where the network does not run in float64)."""
    try:
        with torch.no_grad():
            exact = copy.deepcopy(network).double()(lr.double()).numpy()
        return float(abs(exact - expected).max())
    except Exception:  # a network that insists on float32 somewhere: no allowance
        return 0.0


def _reason(exc: Exception) -> str:
    """One line from the exporter's report: its exception summary (the cause), if it has one."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    summary = [line for line in lines if line.startswith("<class ")]
    return (summary or lines or [type(exc).__name__])[0][:240]
