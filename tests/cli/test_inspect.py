"""`superres inspect FILE`: what a weights file is, without running it."""

from __future__ import annotations

import json

import torch

from superres.archs import build_network, detection_order
from superres.cli import main


def test_inspect_tells_network_parameters_and_precision_of_a_real_file(shared, capsys):
    """Real-ESRGAN x4plus: 16.7M parameters, stored as fp16 weights with fp32 biases."""
    path = shared / "weights" / "realesrgan" / "realesrgan-x4plus.safetensors"
    assert main(["inspect", str(path)]) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert lines["network"].startswith("rrdbnet:")
    assert "num_block=23" in lines["parameters"] and lines["scale"] == "x4"
    assert lines["weights"] == "16,697,987 parameters, stored as 351 float32, 351 float16"
    assert lines["loads"] == "yes" and lines["container"] == "safetensors"


def test_inspect_shows_a_shipped_models_card_as_json(capsys):
    from superres.models import shipped_weights

    assert main(["inspect", str(shipped_weights()["photo-gan-x4"]), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["arch"], info["scale"], info["card"]["kind"]) == ("srvgg", 4, "gan")
    assert info["container"].startswith("superres file") and info["fits"] is None


def test_inspect_says_when_weights_do_not_fit_and_refuses_unknown_files(tmp_path, capsys):
    state = build_network("srvgg", scale=2, num_feat=8, num_conv=2).state_dict()
    state["body.0.bias"] = torch.zeros(5)  # a shape the detected network does not have
    misfit, unknown = tmp_path / "misfit.pth", tmp_path / "unknown.pth"
    torch.save(state, misfit)
    torch.save({"encoder.weight": torch.zeros(2, 2, 3, 3)}, unknown)
    assert main(["inspect", str(misfit), str(unknown)]) == 2
    out, err = capsys.readouterr()
    assert "loads       no: body.0.bias is (5,), the network's (8,)" in out
    looked_for = ", ".join(s.name for s in detection_order())
    found = "1 tensors, first: encoder.weight (2, 2, 3, 3)"
    assert err == f"error: {unknown}: matches no known network ({found}); looked for: {looked_for}\n"


def test_inspect_of_a_folder_says_it_is_a_folder(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: is a folder, not a weights file\n"


def test_inspect_names_a_third_party_models_origin_and_licence(capsys):
    from superres.zoo import SHIPPED_BY_NAME

    assert main(["inspect", str(SHIPPED_BY_NAME["rlfn-s-x2"].file)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("card origin"))
    assert line.endswith(
        "https://github.com/bytedance/RLFN model_zoo/rlfn_s_x2.pth @ bccfde9; Apache-2.0,"
        " text in superres/pretrained/licenses/RLFN-Apache-2.0.txt; none to the weights: the same"
        " tensors stored as safetensors in superres' layout"
    )
