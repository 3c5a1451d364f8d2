"""`superres export`: a model as an ONNX file that ONNX Runtime runs as PyTorch does."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from superres.cli import main

onnx = pytest.importorskip("onnx", reason="the [onnx] extra (installed by the [test] extra)")
onnxruntime = pytest.importorskip("onnxruntime", reason="the [onnx] extra (installed by the [test] extra)")


@pytest.mark.slow
def test_an_exported_model_runs_in_onnx_runtime_as_in_pytorch(tmp_path, capsys):
    from superres.models import load_model

    out = tmp_path / "model.onnx"
    assert main(["export", "-m", "compact-x2-kd", "-o", str(out)]) == 0
    assert "ONNX Runtime matches PyTorch" in capsys.readouterr().out
    metadata = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert metadata["superres.scale"] == "2" and metadata["superres.arch"] == "srvgg"
    assert json.loads(metadata["superres.card"])["name"] == "compact-x2-kd"
    # any batch and size: the axes are dynamic, not the export's sample's
    lr = torch.rand(3, 3, 19, 44, generator=torch.Generator().manual_seed(5))
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (sr,) = session.run(["sr"], {"lr": lr.numpy()})
    expected = load_model("compact-x2-kd", precision="fp32")(lr).numpy()
    assert sr.shape == (3, 3, 38, 88)
    assert np.abs(sr - expected).max() < 1e-4


@pytest.mark.slow
def test_export_refuses_what_it_cannot_write(tmp_path, capsys, monkeypatch):
    """bicubic (no network), a non-.onnx name, and a file whose output would differ from
    PyTorch's: nothing is left behind. Without the extra, a one-line install hint."""
    import superres.export

    assert main(["export", "-m", "bicubic", "-s", "2", "-o", str(tmp_path / "b.onnx")]) == 2
    assert "bicubic is a fixed resize" in capsys.readouterr().err
    assert main(["export", "-m", "compact-x2-kd", "-o", str(tmp_path / "m.png")]) == 2
    assert "the output must be an .onnx file" in capsys.readouterr().err
    monkeypatch.setattr(superres.export, "CHECK_TOLERANCE", -1.0)  # any difference fails the check
    assert main(["export", "-m", "compact-x2-kd", "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'm.onnx'}: the ONNX file's output differs from PyTorch's" in err
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    assert main(["export", "-m", "compact-x2-kd", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "pip install 'superres[onnx]'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_network_the_exporter_cannot_trace_is_a_one_line_error(tmp_path):
    """SRCNN starts with the MATLAB-style bicubic, whose kernel windows depend on the data:
    the exporter's pages-long report (and the graph it printed) become one line."""
    from superres.archs import build_network
    from superres.errors import SuperresError
    from superres.export import export_onnx
    from superres.models import SRModel

    model = SRModel(build_network("srcnn", scale=2).eval(), "srcnn", {}, "srcnn", torch.device("cpu"))
    with pytest.raises(SuperresError, match=r"torch\.onnx\.export cannot export srcnn: ") as error:
        export_onnx(model, tmp_path / "srcnn.onnx")
    assert "\n" not in str(error.value) and list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*LeafSpec")  # the exporter's own note, not ours
def test_export_leaves_other_threads_output_alone(tmp_path, capsys):
    """The library call holds nothing back: another thread printing during an export is
    heard (the exporter's notes are hidden by `superres export` only, which may swap
    sys.stdout process-wide)."""
    import threading
    import time

    from superres.export import export_onnx
    from superres.models import load_model

    model = load_model("compact-x2-kd", precision="fp32")
    export = threading.Thread(target=export_onnx, args=(model, tmp_path / "m.onnx"), kwargs={"check": False})
    export.start()
    printed = 0
    while export.is_alive():
        print(f"line {printed} from another thread")
        printed += 1
        time.sleep(0.01)
    export.join()
    assert (tmp_path / "m.onnx").is_file() and printed > 0
    out = capsys.readouterr().out
    assert all(f"line {i} from another thread" in out for i in range(printed))


@pytest.mark.slow
def test_the_export_command_prints_one_line(tmp_path, capsys):
    assert main(["export", "-m", "compact-x2-kd", "-o", str(tmp_path / "m.onnx")]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and captured.out.startswith("wrote ") and captured.err == ""


@pytest.mark.slow
def test_export_makes_its_folder_or_says_why_it_cannot(tmp_path, capsys):
    """A missing folder is made, as superres upscale makes its output folders, and one that
    cannot be is a one-line error (not a FileNotFoundError traceback)."""
    assert main(["export", "-m", "compact-x2-kd", "-o", str(tmp_path / "new/dir/m.onnx"), "--no-check"]) == 0
    assert (tmp_path / "new/dir/m.onnx").is_file()
    (tmp_path / "file").write_text("")
    assert main(["export", "-m", "compact-x2-kd", "-o", str(tmp_path / "file/m.onnx"), "--no-check"]) == 1
    assert f"error: {tmp_path / 'file/m.onnx'}: cannot write" in capsys.readouterr().err


def _random_model(arch: str, params: dict):
    """A small ``arch`` network with random weights, none left at an initial 0 or 1 (zero
    inits would hide a branch from the comparison)."""
    from superres.archs import build_network
    from superres.models import SRModel

    torch.manual_seed(0)
    network = build_network(arch, **params).eval()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return SRModel(network, arch, params, arch, torch.device("cpu"))


_SMALL_WINDOWS = {"embed_dim": 16, "depths": [2], "num_heads": [2], "window_size": 4, "num_feat": 8}
# Networks that pad to a window or patch multiple, pool to a fraction of the input, or build
# shifted-window masks from its size: each must follow the size in the exported graph.
_WINDOWED = {
    "ditn": {"scale": 2, "dim": 16, "itl_blocks": 1, "sal_blocks": 1},  # 8 x 8 patches
    "omnisr": {"scale": 2, "num_feat": 16, "res_num": 1, "window_size": 8},
    "safmn": {"scale": 2, "dim": 16, "n_blocks": 1},  # adaptive pooling to H/8
    "safmn_ntire": {"scale": 2, "dim": 16, "n_blocks": 1},  # to H/16
    "safmn_bcie": {"dim": 16, "n_blocks": 1, "num_layers": 1},  # pixel unshuffle by 2
    "dctlsa": {"scale": 2, "nf": 20, "num_heads": 4},  # 16 x 16 windows
    # routes each image to its top-k experts: the export runs all, weighting the others by 0
    "seemore": {"scale": 2, "embedding_dim": 8, "num_layers": 1, "topk": 2},
    "swinir": {"scale": 2, **_SMALL_WINDOWS, "upsampler": "pixelshuffle"},
    "swin2sr": {"scale": 2, **_SMALL_WINDOWS, "upsampler": "pixelshuffle_aux"},  # bicubic to the size
    "hat": {
        "scale": 2,
        **_SMALL_WINDOWS,
        "compress_ratio": 2,
        "squeeze_factor": 4,
        "upsampler": "pixelshuffle",
    },
}


@pytest.mark.slow  # an export takes 30 to 60 s on a loaded 2-core machine
@pytest.mark.parametrize("arch", sorted(_WINDOWED))
@pytest.mark.filterwarnings("ignore")  # the exporter's own notes
def test_windowed_networks_export_for_any_size(arch, tmp_path):
    """Exported at 32 x 32, the graph runs sizes that are no multiple of the network's window,
    patch or pooling (and one under a window) as PyTorch does."""
    from superres.export import export_onnx

    model = _random_model(arch, _WINDOWED[arch])
    result = export_onnx(model, tmp_path / "m.onnx")
    assert result.max_difference is not None and result.max_difference < 1e-4
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for batch, h, w in ((1, 27, 41), (2, 13, 19), (1, 5, 3)):
        lr = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(h))
        (sr,) = session.run(["sr"], {"lr": lr.numpy()})
        with torch.no_grad():
            expected = model.network(lr).numpy()
        assert sr.shape == expected.shape == (batch, 3, h * model.scale, w * model.scale)
        assert np.abs(sr - expected).max() < 1e-4, (h, w)


def test_a_network_that_cannot_be_onnx_is_refused_up_front(tmp_path, capsys, monkeypatch):
    """A spec with a reason in ``onnx_export``: one line and exit 2, before any export is
    tried, and nothing written. (No registered network needs it at present.)"""
    import dataclasses

    import superres.archs
    import superres.cli.export
    from superres.export import NotExportableError, export_onnx

    assert all(isinstance(s.onnx_export, str) for s in superres.archs.specs().values())
    refused = dataclasses.replace(superres.archs.spec("seemore"), onnx_export="routes by magic")
    monkeypatch.setattr(superres.archs, "spec", lambda name: refused)
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: pytest.fail("export tried"))
    model = _random_model("seemore", {"scale": 2, "embedding_dim": 8, "num_layers": 1})
    with pytest.raises(NotExportableError, match=r"^seemore cannot be exported to ONNX: routes by magic$"):
        export_onnx(model, tmp_path / "m.onnx")
    monkeypatch.setattr(superres.cli.export, "load_model_or_report", lambda args: model)
    assert main(["export", "-m", "seemore", "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err == "error: seemore cannot be exported to ONNX: routes by magic\n"
    assert list(tmp_path.iterdir()) == []


def test_the_check_allows_the_networks_own_rounding_error():
    """A network computing at 0..255 (SPAN) rounds by ~1e-4 in float32: the check allows a few
    times the float32 output's distance from the float64 one, and no more."""
    from superres.export import _rounding_error

    class Loud(torch.nn.Module):
        def forward(self, x):
            return (x * 1e6 + 1) / 1e6  # float32 rounds this by ~1e-7 times 1e6 / 1e6

    lr = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    expected = Loud()(lr).numpy()
    assert 1e-8 < _rounding_error(Loud(), lr, expected) < 1e-5
    assert _rounding_error(torch.nn.Identity(), lr, lr.numpy()) == 0.0
