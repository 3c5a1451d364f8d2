"""``superres export``: write a model as an ONNX file."""

from __future__ import annotations

import argparse
import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

from superres.cli.common import load_model_or_report, model_options, positive, report_error
from superres.errors import SuperresError


def add_parser(commands: argparse._SubParsersAction) -> None:
    shared = [
        model_options(
            model_help="shipped model, network name, or weights file",
            scale_help="scale (for the default model)",
        )
    ]
    ex = commands.add_parser(
        "export",
        parents=shared,
        help="write a model as an ONNX file",
        description="Write a model's network as ONNX (input lr: float32 N x C x H x W in [0, 1]; output"
        " sr: N x C x sH x sW; dynamic batch and size), checked against PyTorch with ONNX Runtime.",
    )
    ex.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    ex.add_argument("--opset", type=positive(int), default=18, help="ONNX opset version (default 18)")
    ex.add_argument("--no-check", action="store_true", help="do not run the file against PyTorch")
    ex.set_defaults(func=run, device="cpu", precision="fp32")


def run(args: argparse.Namespace) -> int:
    from superres.export import NotExportableError, export_onnx

    if Path(args.output).suffix.lower() != ".onnx":
        report_error(f"{args.output}: the output must be an .onnx file")
        return 2
    model = load_model_or_report(args)
    if model is None:
        return 2
    try:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # as upscale makes its folders
        with _quiet_onnx_exporter():
            result = export_onnx(model, args.output, opset=args.opset, check=not args.no_check)
    except SuperresError as exc:
        report_error(exc)
        return 2 if isinstance(exc, NotExportableError) else 1  # bicubic, a refused network
    except OSError as exc:  # a folder that cannot be made or written
        report_error(f"{args.output}: cannot write ({exc.strerror or exc})")
        return 1
    if args.no_check:
        checked = "not checked (--no-check)"
    elif result.max_difference is None:
        checked = "not checked: install onnxruntime to run the file against PyTorch"
    else:
        checked = f"ONNX Runtime matches PyTorch to {result.max_difference:.1g}"
    print(f"wrote {result.path} ({model.name}, x{model.scale}; {checked})")
    return 0


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """torch.onnx.export's notes (no torchvision, deprecations, graph dumps on failure) are not
    the user's business: its warnings, logging and prints are held back. This changes
    process-wide state (sys.stdout, the torch logger), which a command may do and a library
    function may not, so it lives here and not in superres.export."""
    import io
    import logging

    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        logger.setLevel(level)
