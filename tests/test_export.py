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
