"""The registry: every network declares one complete spec, in its own module, and the
registry reads nothing about a network from anywhere else."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys

import pytest
import torch
from torch import nn

from superres import archs
from superres.archs import ARCH_MODULES, ArchSpec, detection_order, folds_to, spec, specs
from superres.weights import detect_arch

# The networks superres builds and trains itself; the others run third-party files and are
# proven by their own test modules (tests/archs/test_NAME.py).
OWN = ("bicubic", "srcnn", "fsrcnn", "espcn", "edsr", "srresnet", "msrresnet", "rrdbnet", "srvgg", "imdn",
       "ecbsr", "seed")  # fmt: skip
FIRST_TRIED = ("rrdbnet", "imdn", "edsr", "srvgg")  # the own networks' layouts, most specific first


@pytest.mark.parametrize("name", list(specs()))
def test_each_spec_is_complete_and_declared_by_its_network_module(name):
    declared = spec(name)
    assert isinstance(declared, ArchSpec) and declared.name == name
    assert declared.summary.strip()
    assert issubclass(declared.builder, nn.Module) and declared.builder.supported_scales
    module = importlib.import_module(declared.builder.__module__)
    assert module.__name__.removeprefix("superres.archs.") in ARCH_MODULES
    assert declared in module.SPECS
    assert (declared.detect is None) == (declared.detect_order is None)
    assert declared.convert is None or declared.detect is not None  # converts what it detects
    assert (declared.folds_to is None) == (declared.unfold is None)
    assert declared.folds_to is None or declared.folds_to in specs()
    assert isinstance(declared.bf16_verified, bool) and isinstance(declared.tiles_equal_whole, bool)
    assert name in OWN or (declared.detect is not None and declared.proof)  # third-party: proven
    with torch.device("meta"):  # default sizes of large transformers: nothing allocated
        network = archs.build_network(name, scale=declared.builder.supported_scales[-1])
    assert isinstance(network, declared.builder)


def test_every_network_module_declares_its_specs_and_names_are_unique():
    names = []
    for module in ARCH_MODULES:
        declared = importlib.import_module(f"superres.archs.{module}").SPECS
        assert declared and all(isinstance(s, ArchSpec) for s in declared), module
        names += [s.name for s in declared]
    assert len(names) == len(set(names)) == len(specs())
    assert [s.name for s in importlib.import_module("superres.archs.srresnet_arch").SPECS] == [
        "srresnet",
        "msrresnet",
    ]


def test_a_spec_declares_detect_with_its_order_and_folds_to_with_unfold():
    with pytest.raises(ValueError, match="detect and detect_order"):
        ArchSpec("x", "x", nn.Identity, detect=lambda sd: None)
    with pytest.raises(ValueError, match="folds_to and unfold"):
        ArchSpec("x", "x", nn.Identity, folds_to="srvgg")


def test_detection_order_is_what_the_specs_declare():
    order = detection_order()
    assert tuple(s.name for s in order)[:4] == FIRST_TRIED
    assert [s.detect_order for s in order] == sorted(s.detect_order for s in order)
    assert len({s.detect_order for s in order}) == len(order)  # no two share a place
    assert {s.name for s in specs().values() if s.detect is not None} == {s.name for s in order}


def test_detect_arch_tries_the_specs_in_their_declared_order(monkeypatch):
    tried = []

    def recording(declared: ArchSpec) -> ArchSpec:
        def detect(state_dict):
            tried.append(declared.name)
            return declared.detect(state_dict)

        return dataclasses.replace(declared, detect=detect)

    real = specs()
    monkeypatch.setattr(archs, "specs", lambda: {n: recording(s) if s.detect else s for n, s in real.items()})
    assert detect_arch({"unknown.weight": torch.zeros(1)}) is None
    assert tuple(tried) == tuple(s.name for s in detection_order())
    tried.clear()
    imdn = archs.build_network("imdn", scale=2, num_feat=16, num_modules=1).state_dict()
    assert detect_arch(imdn)[0] == "imdn" and tuple(tried) == FIRST_TRIED[:2]


def test_what_each_network_declares():
    own = {n: s for n, s in specs().items() if n in OWN}
    assert {n for n, s in specs().items() if s.folds_to} == {"ecbsr"} and folds_to("ecbsr") == "srvgg"
    assert folds_to("srvgg") is None
    assert {n for n, s in own.items() if not s.tiles_equal_whole} == {"imdn"}  # CCA pools the input
    assert not any(s.bf16_verified for s in specs().values())  # third-party weights stay fp32 under auto
    assert {n for n, s in specs().items() if s.deepen} == {"srvgg"}
    assert {n for n, s in own.items() if s.convert} == {"rrdbnet"}


def test_unknown_network_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown network 'nope'; known: bicubic, srcnn"):
        spec("nope")
    with pytest.raises(KeyError, match="unknown network"):
        archs.arch_module("nope")
    assert list(specs())[:3] == ["bicubic", "srcnn", "fsrcnn"]  # listing order, as superres models shows it


def test_the_registry_and_the_zoo_import_without_torch():
    code = (
        "import sys, superres.archs, superres.zoo; assert 'torch' not in sys.modules, 'torch imported';"
        "assert len(superres.archs.ARCH_MODULES) >= 11 and superres.zoo.DEFAULTS"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
