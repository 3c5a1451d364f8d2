"""Hostile weight files: each is refused with one line naming the file, exit 2, nothing
written, and ``superres.load_model`` raises SuperresError. Loading never runs code."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import superres
from superres.archs import build_network
from superres.errors import SuperresError
from superres.weights import save_network
from tests.fuzz.conftest import assert_only_added_under, run_superres, tree_state

_PARAMS = {"scale": 2, "num_feat": 4, "num_conv": 1}


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _state():
    return {k: v.clone() for k, v in build_network("srvgg", **_PARAMS).state_dict().items()}


def _superres_file(path, metadata):
    base = {"format": "superres-1", "arch": "srvgg", "arch_params": json.dumps(_PARAMS), "card": "{}"}
    save_file(_state(), str(path), metadata={**base, **metadata})


def _with(key, value):
    state = _state()
    state[key] = value
    return state


def _without(key):
    state = _state()
    del state[key]
    return state


def _nested(depth):
    obj = _state()
    for _ in range(depth):
        obj = {"state_dict": obj}
    return obj


def _rrdbnet_without_last_conv():
    state = build_network("rrdbnet", scale=2, num_feat=8, num_block=1, num_grow_ch=4).state_dict()
    return {k: v for k, v in state.items() if not k.startswith("conv_last")}


def _nan_network():
    net = build_network("srvgg", **_PARAMS)
    with torch.no_grad():
        net.body[1].weight[0] = float("nan")
    return net


_PTH = {
    "nan.pth": lambda: _with("body.0.weight", torch.full((4, 3, 3, 3), float("nan"))),
    "inf.pth": lambda: _with("body.2.bias", torch.full((4,), float("inf"))),
    "ints.pth": lambda: {k: v.to(torch.int32) for k, v in _state().items()},
    "int-keys.pth": lambda: dict(enumerate(_state().values())),
    "zero-in.pth": lambda: _with("body.0.weight", torch.zeros(4, 0, 3, 3)),
    "conv-1d.pth": lambda: _with("body.0.weight", torch.zeros(4)),
    "no-last.pth": lambda: _without("body.4.weight"),
    "non-tensors.pth": lambda: {"a": 1, "b": "two"},
    "nested.pth": lambda: _nested(10),
    "rrdb-no-last.pth": lambda: _rrdbnet_without_last_conv(),
}
_SUPERRES = {
    "bad-params.safetensors": {"arch_params": "{not json"},
    "params-list.safetensors": {"arch_params": "[1, 2]"},
    "params-wrong-type.safetensors": {"arch_params": '{"scale": "two", "num_feat": 4, "num_conv": 1}'},
    "params-huge.safetensors": {"arch_params": '{"scale": 2, "num_feat": 4, "num_conv": 1000000000}'},
    "bad-card.safetensors": {"card": "[[["},
    "card-strength.safetensors": {"card": '{"strength": "half"}'},
    "unknown-arch.safetensors": {"arch": "transformer9000"},
}


def _corpus(folder):
    """Every hostile file, written under ``folder``."""
    for name, make in _PTH.items():
        torch.save(make(), folder / name)
    for name, metadata in _SUPERRES.items():
        _superres_file(folder / name, metadata)
    save_network(folder / "nan-network.safetensors", _nan_network(), "srvgg", _PARAMS)
    good = folder / "good.safetensors"
    save_network(good, build_network("srvgg", **_PARAMS), "srvgg", _PARAMS)
    torch.save(_state(), folder / "good.pth")
    (folder / "truncated.safetensors").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "truncated.pth").write_bytes((folder / "good.pth").read_bytes()[:300])
    good.unlink()
    (folder / "good.pth").unlink()
    (folder / "empty.pth").write_bytes(b"")
    (folder / "empty.safetensors").write_bytes(b"")
    (folder / "text.pth").write_text("these are not weights\n")
    with zipfile.ZipFile(folder / "plain-zip.pth", "w") as archive:
        archive.writestr("readme.txt", "hello")
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 30, 1 << 30], "data_offsets": [0, 4]}}).encode()
    (folder / "huge-shape.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    return _corpus(folder)


@pytest.fixture
def tiny_png(tmp_path):
    path = tmp_path / "in" / "tiny.png"
    path.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(path)
    return path


def test_the_corpus_is_whole(corpus):
    assert len(corpus) == len(_PTH) + len(_SUPERRES) + 8


def test_hostile_weight_files_are_refused_by_upscale(corpus, tiny_png, tmp_path):
    out = tmp_path / "out"
    for weights in corpus:
        before = tree_state(tmp_path)
        result = run_superres("upscale", tiny_png, "-m", weights, "-o", out, "-q")
        assert result.code == 2, (weights.name, result.err)
        lines = [line for line in result.err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and str(weights) in lines[0], (weights.name, result.err)
        assert not out.exists(), weights.name
        assert_only_added_under(before, tree_state(tmp_path), out)


def test_hostile_weight_files_are_refused_by_load_model(corpus):
    for weights in corpus:
        with pytest.raises(SuperresError) as err:
            superres.load_model(weights)
        assert str(weights) in str(err.value) and "\n" not in str(err.value), weights.name


@pytest.mark.parametrize("command", ["eval", "export"])
def test_nan_weights_are_refused_by_eval_and_export(corpus, tiny_png, tmp_path, command):
    (weights,) = [p for p in corpus if p.name == "nan-network.safetensors"]
    args = ["--data", tiny_png.parent] if command == "eval" else ["-o", tmp_path / "model.onnx"]
    result = run_superres(command, "-m", weights, *args)
    assert result.code == 2 and "not finite" in result.err, result.err
    assert not (tmp_path / "model.onnx").exists()


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, tiny_png):
    marker = tmp_path / "code-ran"
    weights = tmp_path / "evil.pth"
    torch.save({"params": _Payload(str(marker))}, weights)
    result = run_superres("upscale", tiny_png, "-m", weights, "-o", tmp_path / "out")
    assert result.code == 2 and "refused" in result.err
    assert not marker.exists() and not (tmp_path / "out").exists()
